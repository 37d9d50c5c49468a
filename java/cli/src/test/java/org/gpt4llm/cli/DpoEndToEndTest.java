package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm dpo} through the command line on a real pretrained model (Karpathy's stories260K,
 * imported from its GGUF: 5 layers, vocabulary 512) with LoRA: on the real chosen/rejected pairs the
 * training preference accuracy reaches 0.9 and the loss falls, the held-out figures printed beside
 * them; the reference log-probabilities are cached in the run folder and read back on --resume; the
 * comparison format's pairs, ties and repeated responses are counted; each loss type runs.
 */
class DpoEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path base;

    @BeforeAll
    static void baseModel() {
        base = dir.resolve("stories260K");
        CliRun r = CliRun.of("import-gguf", SharedFiles.get("models/stories260K.gguf").toString(), "--out", base.toString());
        assertEquals(0, r.code(), r.out() + r.err());
    }

    private static List<JsonNode> metrics(Path run) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) lines.add(JSON.readTree(l));
        return lines;
    }

    @Test
    void loraLearnsTheRealPreferencePairs() throws Exception {
        Path run = dir.resolve("dpo");
        long t0 = System.nanoTime();
        CliRun r = CliRun.of("dpo", "--model", base.toString(), "--data",
                SharedFiles.get("data/preference_pairs_en.json").toString(), "--out", run.toString(), "--max-len", "48",
                "--epochs", "4", "--lr", "5e-3", "--batch", "8", "--micro-batch", "8", "--eval-fraction", "0.2",
                "--lora-rank", "16", "--lora-targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
                "--lora-dropout", "0", "--warmup-ratio", "0", "--eval-every", "60", "--eval-on-start", "--save-every", "0",
                "--threads", "2", "--quiet");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("300 prompts, 300 pairs, 0 tied pairs skipped, 0 records skipped"), r.out());
        for (String f : new String[] {"config.json", "metrics.jsonl", "loss.png", "reference_logps.json",
                "final/adapter_config.json", "final/adapter_model.safetensors", "final/tokenizer.json"}) {
            assertTrue(Files.exists(run.resolve(f)), f + " missing from the run directory");
        }
        List<JsonNode> lines = metrics(run);
        assertEquals(0, JsonChecks.integer(lines.getFirst(), "step"), "held-out metrics before the first step come first");
        List<Double> heldOut = new ArrayList<>();
        List<JsonNode> steps = new ArrayList<>();
        for (JsonNode n : lines) {
            if (n.has("eval_loss")) {
                heldOut.add(JsonChecks.number(n, "eval_rewards/accuracies"));
                for (String k : new String[] {"eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins"}) {
                    JsonChecks.number(n, k);
                }
            }
            if (JsonChecks.integer(n, "step") > 0) steps.add(n);
        }
        // 240 training pairs in steps of 8: 30 steps an epoch
        int perEpoch = 30;
        assertEquals(4 * perEpoch, steps.size());
        double firstLoss = mean(steps.subList(0, perEpoch), "loss"), lastLoss = mean(steps.subList(steps.size() - perEpoch, steps.size()), "loss");
        double firstAcc = mean(steps.subList(0, perEpoch), "rewards/accuracies");
        double lastAcc = mean(steps.subList(steps.size() - perEpoch, steps.size()), "rewards/accuracies");
        System.out.printf("dpo end to end (stories260K, LoRA, %.1f s): training loss %.4f -> %.4f, training preference"
                + " accuracy %.3f -> %.3f (first and last epoch); held-out preference accuracy %s%n", seconds, firstLoss,
                lastLoss, firstAcc, lastAcc, heldOut);
        assertTrue(lastLoss < firstLoss, "the loss falls: " + firstLoss + " -> " + lastLoss);
        assertTrue(lastAcc >= 0.9, "training preference accuracy " + lastAcc);
        JsonNode last = steps.getLast();
        assertTrue(JsonChecks.number(last, "rewards/margins") > 0, "chosen responses gain on rejected ones: " + last);
        assertEquals(JsonChecks.number(last, "rewards/chosen") - JsonChecks.number(last, "rewards/rejected"),
                JsonChecks.number(last, "rewards/margins"), 1e-5);
    }

    private static double mean(List<JsonNode> lines, String key) {
        return lines.stream().mapToDouble(n -> JsonChecks.number(n, key)).average().orElseThrow();
    }

    /** A run resumed from its checkpoint reads the cached reference log-probabilities back and ends where a whole run does. */
    @Test
    void resumeReadsTheCachedReference() throws Exception {
        String data = SharedFiles.get("data/preference_pairs_en.json").toString();
        Path whole = dir.resolve("whole"), resumed = dir.resolve("resumed");
        String[] common = {"dpo", "--model", base.toString(), "--data", data, "--max-len", "48", "--max-steps", "4",
                "--batch", "4", "--micro-batch", "2", "--lr", "1e-3", "--eval-fraction", "0.05", "--eval-every", "2",
                "--save-every", "2", "--keep", "0", "--threads", "2", "--quiet"};
        for (Path run : List.of(whole, resumed)) {
            List<String> args = new ArrayList<>(List.of(common));
            args.addAll(List.of("--out", run.toString()));
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.out() + r.err());
            assertTrue(r.out().contains("reference log-probabilities of 300 pairs computed"), r.out());
        }
        byte[] cache = Files.readAllBytes(resumed.resolve("reference_logps.json"));
        try (var files = Files.walk(resumed.resolve("final"))) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        List<String> args = new ArrayList<>(List.of(common));
        args.addAll(List.of("--out", resumed.toString(), "--resume"));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("reference log-probabilities read from"), r.out());
        assertArrayEquals(cache, Files.readAllBytes(resumed.resolve("reference_logps.json")));
        List<JsonNode> a = metrics(whole), b = metrics(resumed);
        assertEquals(a.size(), b.size(), "one metrics line per step, none twice");
        assertEquals(JsonChecks.number(a.getLast(), "eval_loss"), JsonChecks.number(b.getLast(), "eval_loss"), 1e-6,
                "the resumed run ends where the whole one does");
    }

    /** Comparison data: every score-ordered pair of the C(K,2), ties and repeated responses left out and counted; each loss runs. */
    @Test
    void comparisonDataIsPairedAndEveryLossRuns() throws Exception {
        Path data = dir.resolve("comparison.json");
        Files.writeString(data, """
                [{"user_input": "Name a primary color.", "responses_and_scores": [
                   {"response": "Red.", "score": 9}, {"response": "Blue is one.", "score": 7},
                   {"response": "Purple.", "score": 2}, {"response": "Red.", "score": 9}]},
                 {"user_input": "Say hello.", "responses_and_scores": [
                   ["Hello!", 8], ["Hi.", 8], ["Goodbye.", "1"]]}]
                """);
        for (String[] loss : new String[][] {{"--loss", "sigmoid", "--label-smoothing", "0.1"}, {"--loss", "ipo"},
                {"--loss", "hinge", "--reference-free"}}) {
            Path run = dir.resolve("cmp-" + loss[1]);
            List<String> args = new ArrayList<>(List.of("dpo", "--model", base.toString(), "--data", data.toString(),
                    "--out", run.toString(), "--max-steps", "2", "--batch", "5", "--micro-batch", "5", "--eval-fraction", "0",
                    "--lr", "1e-3", "--threads", "2", "--quiet"));
            args.addAll(List.of(loss));
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.out() + r.err());
            // group 1: {Red, Blue, Purple} after the repeated Red: 3 pairs; group 2: Hello = Hi tie, 2 pairs
            assertTrue(r.out().contains("training: 5 pairs, 1 tied pairs skipped, 1 duplicate responses dropped"), r.out());
            boolean referenceFree = List.of(loss).contains("--reference-free");
            assertEquals(!referenceFree, Files.exists(run.resolve("reference_logps.json")), "only a run with a reference caches it");
            JsonNode step = metrics(run).getLast();
            for (String k : new String[] {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"}) {
                assertTrue(Double.isFinite(JsonChecks.number(step, k)), k + " in " + step);
            }
        }
        CliRun bad = CliRun.of("dpo", "--model", base.toString(), "--data", data.toString(), "--out",
                dir.resolve("bad").toString(), "--loss", "ipo", "--label-smoothing", "0.1");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--label-smoothing applies to the sigmoid loss only"), bad.err());
    }
}
