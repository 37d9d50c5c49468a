package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The paper's reward-model step at toy scale, through the commands a user types: a tiny OPT with
 * OPT's own tokenizer, trained with the pairwise loss on real chosen/rejected pairs; its held-out
 * pairwise accuracy must rise above where it started and above chance. Then {@code rm score} on
 * comparison data, and the messages for records that cannot be used.
 */
class RmEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path base;

    @BeforeAll
    static void baseModel() {
        base = dir.resolve("opt-tiny");
        CliRun r = CliRun.of("init-model", "--arch", "opt", "--preset", "tiny", "--tokenizer",
                SharedFiles.get("models/opt-tokenizer-roberta").toString(), "--out", base.toString(), "--seed", "5");
        assertEquals(0, r.code(), r.out() + r.err());
    }

    @Test
    void heldOutAccuracyRisesOnRealPreferencePairs() throws Exception {
        Path run = dir.resolve("rm");
        CliRun r = CliRun.of("rm", "--model", base.toString(), "--data",
                SharedFiles.get("data/preference_pairs_en.json").toString(), "--out", run.toString(), "--max-len", "128",
                "--epochs", "3", "--lr", "1e-3", "--batch", "16", "--micro-batch", "8", "--eval-fraction", "0.2",
                "--eval-every", "10", "--save-every", "20", "--keep", "1", "--threads", "2", "--quiet");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("300 prompts, 300 pairs, 0 tied pairs skipped, 0 records skipped"), r.out());
        for (String f : new String[] {"config.json", "metrics.jsonl", "loss.png", "accuracy.png", "final/config.json",
                "final/model.safetensors", "final/tokenizer.json"}) {
            assertTrue(Files.exists(run.resolve(f)), f + " missing from the run directory");
        }
        JsonNode config = JSON.readTree(run.resolve("final/config.json").toFile());
        assertEquals("OPTForSequenceClassification", JsonChecks.element(JsonChecks.required(config, "architectures"), 0).asText());
        assertEquals(1, JsonChecks.integer(config, "num_labels"));
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(run.resolve("final/model.safetensors"), arena);
            assertTrue(st.contains("score.weight") && !st.contains("lm_head.weight"), "a sequence classifier's tensors");
        }

        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) lines.add(JSON.readTree(l));
        JsonNode start = lines.getFirst();
        assertEquals(0, JsonChecks.integer(start, "step"), "held-out metrics before the first step come first");
        List<Double> accuracy = new ArrayList<>();
        for (JsonNode n : lines) {
            if (!n.has("eval_accuracy")) continue;
            accuracy.add(JsonChecks.number(n, "eval_accuracy"));
            for (String k : new String[] {"eval_loss", "eval_chosen_reward", "eval_rejected_reward", "eval_margin"}) {
                assertTrue(n.has(k), k + " missing from " + n);
            }
        }
        double first = accuracy.getFirst(), last = accuracy.getLast();
        System.out.printf("rm end to end: held-out pairwise accuracy %s%n", accuracy);
        assertTrue(last > first && last > 0.5, "held-out accuracy " + first + " -> " + last);
        JsonNode end = lines.getLast();
        assertTrue(JsonChecks.number(end, "eval_chosen_reward") > JsonChecks.number(end, "eval_rejected_reward"),
                "chosen responses get the higher mean reward: " + end);

        // score a comparison file (string scores, three responses, one without a score) with the trained model
        Path cmp = dir.resolve("comparison.json"), scored = dir.resolve("scored.json");
        Files.writeString(cmp, """
                [{"user_input": "Give three tips for staying healthy.", "responses_and_scores": [
                   {"response": "Eat well, sleep enough and move every day.", "score": "9", "source": "gpt4"},
                   {"response": "Tips.", "score": "2", "source": "icm-1.3b"},
                   {"response": "Drink water and walk.", "source": "text-davinci-003"}]},
                 {"user_input": "Name a primary color.", "responses_and_scores": [
                   ["Red.", 8, "gpt4"], ["Purple is one.", 3, "icm-1.3b"]]}]
                """);
        r = CliRun.of("rm", "score", "--model", run.resolve("final").toString(), "--data", cmp.toString(),
                "--out", scored.toString(), "--max-len", "128", "--threads", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        JsonNode out = JSON.readTree(scored.toFile());
        for (JsonNode resp : JsonChecks.nonEmptyArray(out.get(0), "responses_and_scores")) {
            assertTrue(JsonChecks.required(resp, "reward").isNumber(), "every response gets a reward: " + resp);
        }
        for (JsonNode resp : JsonChecks.nonEmptyArray(out.get(1), "responses_and_scores")) {
            assertTrue(resp.isArray() && resp.size() == 4 && resp.get(3).isNumber(), "array entries gain a reward: " + resp);
        }
        assertTrue(r.out().contains("mean reward by source: gpt4"), r.out());

        // a folder without a trained head has nothing to score with
        r = CliRun.of("rm", "score", "--model", base.toString(), "--data", cmp.toString(), "--out",
                dir.resolve("x.json").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("has no reward head"), r.err());
        assertFalse(Files.exists(dir.resolve("x.json")));
    }

    /** A run resumed from its checkpoint ends with the same weights as one that was never interrupted. */
    @Test
    void resumedRunEndsWhereAnUninterruptedOneDoes() throws Exception {
        String data = SharedFiles.get("data/preference_pairs_en.json").toString();
        Path whole = dir.resolve("whole"), resumed = dir.resolve("resumed");
        String[] common = {"rm", "--model", base.toString(), "--data", data, "--max-len", "48", "--max-steps", "4",
                "--batch", "4", "--micro-batch", "2", "--lr", "1e-3", "--eval-fraction", "0.05", "--eval-every", "2",
                "--save-every", "2", "--keep", "0", "--threads", "2", "--quiet"};
        for (Path run : List.of(whole, resumed)) {
            List<String> args = new ArrayList<>(List.of(common));
            args.addAll(List.of("--out", run.toString()));
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.out() + r.err());
        }
        // as if killed in step 4: no final/ yet, and --resume starts from checkpoint-2 (cutting metrics.jsonl back)
        try (var files = Files.walk(resumed.resolve("final"))) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        List<String> args = new ArrayList<>(List.of(common));
        args.addAll(List.of("--out", resumed.toString(), "--resume"));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        assertEquals(Files.readAllLines(whole.resolve("metrics.jsonl")).size(),
                Files.readAllLines(resumed.resolve("metrics.jsonl")).size(), "one metrics line per step, none twice");
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors a = SafeTensors.open(whole.resolve("final/model.safetensors"), arena);
            SafeTensors b = SafeTensors.open(resumed.resolve("final/model.safetensors"), arena);
            for (String name : a.names()) {
                assertEquals(java.util.Arrays.toString(a.tensor(name).toFloatArray()),
                        java.util.Arrays.toString(b.tensor(name).toFloatArray()), name + " after resuming");
            }
        }
    }

    @Test
    void unusableRecordsAreNamedAndCounted() throws Exception {
        Path data = dir.resolve("mixed.json");
        Files.writeString(data, """
                [{"user_input": "good", "responses_and_scores": [{"response": "a", "score": 8}, {"response": "b", "score": "3"}]},
                 {"user_input": "missing", "responses_and_scores": [{"response": "a", "score": 8}, {"response": "b"}]},
                 {"user_input": "text", "responses_and_scores": [{"response": "a", "score": "high"}, {"response": "b", "score": 2}]},
                 {"user_input": "single", "responses_and_scores": [{"response": "a", "score": 7}]},
                 {"user_input": "ties", "responses_and_scores": [{"response": "a", "score": 5}, {"response": "b", "score": 5}]}]
                """);
        CliRun r = CliRun.of("rm", "--model", base.toString(), "--data", data.toString(), "--out",
                dir.resolve("mixed-run").toString(), "--max-steps", "1", "--batch", "1", "--micro-batch", "1",
                "--eval-fraction", "0", "--threads", "2", "--quiet");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("1 prompts, 1 pairs, 0 tied pairs skipped, 4 records skipped"), r.out());
        for (int record = 1; record <= 4; record++) {
            assertTrue(r.out().contains("skipped " + data + ":" + record + ":"), "record " + record + " named: " + r.out());
        }

        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, """
                [{"user_input": "single", "responses_and_scores": [{"response": "a", "score": 7}]}]
                """);
        r = CliRun.of("rm", "--model", base.toString(), "--data", bad.toString(), "--out", dir.resolve("bad-run").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--data: no usable comparison in"), r.err());
    }
}
