package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm rft} on a tiny LLaMA and a reward model trained for one step: the kept answer of every
 * instruction is the best of its samples as {@code rm score} scores them on its own, {@code --min-score}
 * keeps exactly the instructions whose best reaches it, a run killed while sampling keeps every
 * instruction once and what it had sampled, and the fine-tune runs on the kept file.
 */
class RftCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int N = 3, DISTINCT = 5;

    @TempDir
    static Path dir;
    static Path base, rm, prompts, first;

    @BeforeAll
    static void policyRewardModelAndOneRound() throws Exception {
        Path data = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        Path tok = dir.resolve("tok");
        base = dir.resolve("base");
        CliRun r = CliRun.of("init-tokenizer", "--data", data.toString(), "--vocab", "600", "--out", tok.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", base.toString(), "--seed", "4");
        assertEquals(0, r.code(), r.out() + r.err());
        Path rmRun = dir.resolve("rm");
        r = CliRun.of("rm", "--model", base.toString(), "--data", SharedFiles.get("data/preference_pairs_en.json").toString(),
                "--out", rmRun.toString(), "--max-len", "64", "--max-steps", "1", "--batch", "4", "--micro-batch", "4",
                "--eval-fraction", "0", "--threads", "2", "--quiet");
        assertEquals(0, r.code(), r.out() + r.err());
        rm = rmRun.resolve("final");
        // instructions without input (so that a comparison file states the same prompt), the first one asked twice
        ArrayNode asked = JSON.createArrayNode();
        for (JsonNode rec : JSON.readTree(data.toFile())) {
            if (asked.size() == DISTINCT) break;
            if (rec.path("input").asText().isEmpty()) asked.addObject().put("instruction", rec.get("instruction").asText()).put("input", "");
        }
        asked.add(asked.get(0).deepCopy());
        prompts = dir.resolve("prompts.json");
        Files.writeString(prompts, asked.toString());
        first = dir.resolve("run");
        CliRun round = rft(first);
        assertEquals(0, round.code(), round.out() + round.err());
        assertTrue(round.out().contains("kept " + DISTINCT + " of " + DISTINCT + " instructions (0 below --min-score)"), round.out());
    }

    private static CliRun rft(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("rft", "--model", base.toString(), "--prompts", prompts.toString(),
                "--reward-model", rm.toString(), "--n", String.valueOf(N), "--temperature", "1", "--max-new-tokens", "8",
                "--sample-batch", "6", "--rm-max-len", "128", "--out", out.toString(), "--max-len", "160", "--max-steps", "2",
                "--batch", "2", "--micro-batch", "2", "--eval-fraction", "0", "--save-every", "0", "--threads", "2", "--quiet"));
        a.addAll(Arrays.asList(more));
        return CliRun.of(a.toArray(String[]::new));
    }

    private static JsonNode kept(Path run) throws Exception {
        return JSON.readTree(run.resolve("rft/kept.json").toFile());
    }

    @Test
    void keptAnswerIsTheBestSampleAsTheRewardModelScoresEachAndTheFineTuneRuns() throws Exception {
        JsonNode kept = kept(first);
        assertEquals(DISTINCT, kept.size(), "each instruction once: " + kept);
        // every sample of every instruction, from the ranked files, scored on its own by rm score
        ArrayNode compare = JSON.createArrayNode();
        List<Map<Integer, JsonNode>> groups = new ArrayList<>(); // rank k: question index -> sample
        for (int k = 1; k <= N; k++) {
            Map<Integer, JsonNode> byQuestion = new HashMap<>();
            for (String l : Files.readAllLines(first.resolve("rft/samples-top" + k + ".jsonl"))) {
                JsonNode rec = JSON.readTree(l);
                byQuestion.put((int) JsonChecks.integer(rec, "question_id"), rec);
            }
            groups.add(byQuestion);
        }
        JsonNode questions = JSON.readTree(prompts.toFile());
        for (int q = 0; q < DISTINCT; q++) {
            ObjectNode rec = compare.addObject().put("user_input", questions.get(q).get("instruction").asText());
            ArrayNode rs = rec.putArray("responses_and_scores");
            for (Map<Integer, JsonNode> g : groups) rs.addObject().put("response", JsonChecks.text(g.get(q), "text"));
        }
        Path cmp = dir.resolve("samples-compare.json"), scored = dir.resolve("samples-scored.json");
        Files.writeString(cmp, compare.toString());
        CliRun r = CliRun.of("rm", "score", "--model", rm.toString(), "--data", cmp.toString(), "--out", scored.toString(),
                "--max-len", "128", "--threads", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        JsonNode rewards = JSON.readTree(scored.toFile());
        for (int q = 0; q < DISTINCT; q++) {
            JsonNode samples = JsonChecks.nonEmptyArray(rewards.get(q), "responses_and_scores");
            int best = 0;
            for (int k = 1; k < N; k++) if (JsonChecks.number(samples.get(k), "reward") > JsonChecks.number(samples.get(best), "reward")) best = k;
            JsonNode keep = kept.get(q);
            assertEquals(questions.get(q).get("instruction").asText(), JsonChecks.text(keep, "instruction"));
            assertEquals(JsonChecks.text(samples.get(best), "response"), JsonChecks.text(keep, "output"), "instruction " + q + ": " + samples);
            double max = JsonChecks.number(samples.get(best), "reward");
            assertEquals(max, JsonChecks.number(keep, "reward"), 1e-4 * Math.max(1, Math.abs(max)), "the kept reward is the sample's");
        }
        // the fine-tune ran on the kept file, as sft would
        JsonNode config = JSON.readTree(first.resolve("config.json").toFile());
        assertEquals(first.resolve("rft/kept.json").toString(), JsonChecks.element(JsonChecks.required(config, "data"), 0).asText());
        assertTrue(Files.isRegularFile(first.resolve("final/model.safetensors")), "final weights");
        List<String> metrics = Files.readAllLines(first.resolve("metrics.jsonl"));
        assertEquals(2, JsonChecks.integer(JSON.readTree(metrics.getLast()), "step"));
        // a rerun with --resume has nothing left to do: the samples are all there and the run is finished
        long stamp = Files.getLastModifiedTime(first.resolve("final/model.safetensors")).toMillis();
        CliRun again = rft(first, "--resume");
        assertEquals(0, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("0 to go"), again.out());
        assertEquals(stamp, Files.getLastModifiedTime(first.resolve("final/model.safetensors")).toMillis());
    }

    @Test
    void minScoreKeepsExactlyTheInstructionsWhoseBestReachesIt() throws Exception {
        JsonNode all = kept(first);
        double[] best = new double[all.size()];
        for (int i = 0; i < best.length; i++) best[i] = JsonChecks.number(all.get(i), "reward");
        double[] sorted = best.clone();
        Arrays.sort(sorted);
        double min = sorted[sorted.length / 2]; // the median: some kept, some not
        Path run = dir.resolve("run-min");
        copySamples(first, run, Integer.MAX_VALUE);
        CliRun r = rft(run, "--min-score", String.valueOf(min));
        assertEquals(0, r.code(), r.out() + r.err());
        Set<String> expected = new LinkedHashSet<>();
        for (int i = 0; i < best.length; i++) if (best[i] >= min) expected.add(JsonChecks.text(all.get(i), "instruction"));
        Set<String> got = new LinkedHashSet<>();
        for (JsonNode k : kept(run)) {
            assertTrue(JsonChecks.number(k, "reward") >= min, k.toString());
            got.add(JsonChecks.text(k, "instruction"));
        }
        assertEquals(expected, got);
        assertTrue(expected.size() < DISTINCT && !expected.isEmpty(), "the median splits them: " + Arrays.toString(best));
        assertTrue(r.out().contains("kept " + expected.size() + " of " + DISTINCT + " instructions (" + (DISTINCT - expected.size())
                + " below --min-score)"), r.out());

        // the run trained on what it kept: another --min-score may not rewrite that file under it
        String trainedOn = Files.readString(run.resolve("rft/kept.json"));
        CliRun other = rft(run, "--min-score", String.valueOf(sorted[0]), "--resume");
        assertEquals(2, other.code(), other.out() + other.err());
        assertTrue(other.err().strip().lines().toList().getLast().equals("gpt4llm rft: --out " + run + " trained on "
                + run.resolve("rft/kept.json") + ", and the answers kept now differ from it (another --min-score, --prompts or samples);"
                + " pass --resume --accept-changed-data to continue training on them as they are now, or choose another --out"), other.err());
        assertEquals(trainedOn, Files.readString(run.resolve("rft/kept.json")));

        copySamples(first, dir.resolve("run-none"), Integer.MAX_VALUE);
        CliRun none = rft(dir.resolve("run-none"), "--min-score", String.valueOf(sorted[sorted.length - 1] + 1));
        assertEquals(2, none.code(), none.out() + none.err());
        String sentence = none.err().strip().lines().toList().getLast();
        assertTrue(sentence.startsWith("gpt4llm rft: --min-score ") && sentence.contains("keeps none of the " + DISTINCT
                + " best answers"), none.err());
        CliRun noRm = CliRun.of("rft", "--model", base.toString(), "--prompts", prompts.toString(), "--reward-model", dir.toString(),
                "--out", dir.resolve("run-no-rm").toString());
        assertEquals(2, noRm.code(), noRm.out() + noRm.err());
        assertTrue(noRm.err().startsWith("gpt4llm rft: --reward-model " + dir), noRm.err());
        assertTrue(Files.notExists(dir.resolve("run-no-rm")), "nothing written");
        CliRun data = rft(dir.resolve("run-data"), "--data", prompts.toString());
        assertEquals(2, data.code());
        assertTrue(data.err().contains("--data: rft trains on the answers it keeps"), data.err());
    }

    @Test
    void aRunKilledWhileSamplingKeepsWhatItHadAndEveryInstructionOnce() throws Exception {
        Path run = dir.resolve("run-killed");
        copySamples(first, run, 3); // the first answers (one asked twice) and a last line cut short, as a kill leaves them
        List<String> before = Files.readAllLines(run.resolve("rft/samples.jsonl")).subList(0, 3);
        CliRun r = rft(run);
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("3 already answered"), r.out());
        assertEquals(before, Files.readAllLines(run.resolve("rft/samples.jsonl")).subList(0, 3), "what was sampled is kept, not resampled");
        JsonNode kept = kept(run), whole = kept(first);
        assertEquals(DISTINCT, kept.size());
        Set<String> instructions = new LinkedHashSet<>();
        for (int i = 0; i < kept.size(); i++) {
            assertTrue(instructions.add(JsonChecks.text(kept.get(i), "instruction")), "once: " + kept);
            // sampling is seeded per instruction, so the resumed run keeps what an unbroken one kept
            assertEquals(JsonChecks.text(whole.get(i), "output"), JsonChecks.text(kept.get(i), "output"));
        }
        assertTrue(Files.isRegularFile(run.resolve("final/model.safetensors")), "the fine-tune ran");
    }

    /** The first {@code lines} records of {@code from}'s sample files into {@code to}, plus half of the next one where there is one. */
    private static void copySamples(Path from, Path to, int lines) throws Exception {
        Files.createDirectories(to.resolve("rft"));
        List<String> names = new ArrayList<>(List.of("samples.jsonl"));
        for (int k = 1; k <= N; k++) names.add("samples-top" + k + ".jsonl");
        for (String name : names) {
            List<String> all = Files.readAllLines(from.resolve("rft").resolve(name));
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < Math.min(lines, all.size()); i++) b.append(all.get(i)).append('\n');
            if (lines < all.size()) b.append(all.get(lines), 0, all.get(lines).length() / 2);
            Files.writeString(to.resolve("rft").resolve(name), b.toString(), StandardCharsets.UTF_8);
        }
    }
}
