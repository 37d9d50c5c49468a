package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm dpo} on other device layouts than one eager device, through the command line on a real
 * pretrained model (stories260K) and a small comparison file: {@code --gpus 2 --zero 1} gives the
 * one-device run's losses and reward metrics step by step, and {@code --cuda-graph} on cuda-emu replays
 * its steps.
 */
class DpoDevicesCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] METRICS = {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
        "rewards/margins"};

    @TempDir
    static Path dir;
    static Path base, data;

    @BeforeAll
    static void baseModelAndData() throws Exception {
        base = dir.resolve("stories260K");
        CliRun r = CliRun.of("import-gguf", SharedFiles.get("models/stories260K.gguf").toString(), "--out", base.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        data = dir.resolve("comparison.json");
        Files.writeString(data, """
                [{"user_input": "Name a primary color.", "responses_and_scores": [
                   {"response": "Red.", "score": 9}, {"response": "Blue is one.", "score": 7},
                   {"response": "Purple.", "score": 2}]},
                 {"user_input": "Say hello.", "responses_and_scores": [["Hello!", 8], ["Hi.", 5], ["Goodbye.", 1]]}]
                """);
    }

    /** 6 pairs, every step all of them in micro-batches of one pair; the metrics lines of the run. */
    private static List<JsonNode> run(String name, String... extra) throws Exception {
        Path out = dir.resolve(name);
        List<String> args = new ArrayList<>(List.of("dpo", "--model", base.toString(), "--data", data.toString(), "--out",
                out.toString(), "--max-steps", "3", "--batch", "6", "--micro-batch", "1", "--eval-fraction", "0",
                "--lr", "1e-3", "--save-every", "0", "--threads", "2"));
        args.addAll(List.of(extra));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        assertFalse(r.out().contains("--cuda-graph:"), "no step fell back to eager launches: " + r.out());
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) lines.add(JSON.readTree(l));
        assertEquals(3, lines.size(), lines.toString());
        return lines;
    }

    /**
     * Step by step: the loss within {@code lossTol} relative, each reward within {@code rewardTol} (a reward
     * is β times a difference of summed log-probabilities of tens of nats, so it is held absolutely).
     */
    private static void assertSameSteps(List<JsonNode> want, List<JsonNode> got, double lossTol, double rewardTol,
                                        String what) {
        for (int s = 0; s < want.size(); s++) {
            for (String k : METRICS) {
                double a = JsonChecks.number(want.get(s), k), b = JsonChecks.number(got.get(s), k);
                double tol = k.equals("loss") ? lossTol * Math.abs(a) : rewardTol;
                assertEquals(a, b, tol, what + ": " + k + " of step " + (s + 1));
            }
        }
        assertTrue(JsonChecks.number(want.getLast(), "loss") != JsonChecks.number(want.getFirst(), "loss"), "the steps trained");
    }

    @Test
    void twoDevicesRunTheOneDeviceSteps() throws Exception {
        List<JsonNode> one = run("one"), two = run("two", "--gpus", "2", "--zero", "1");
        // fp32 on the cpu: the two devices sum the gradients in another order, which AdamW carries on. Its
        // first update moves each weight by lr whatever the size of its gradient, so the weights whose
        // gradient is near 0 move as the rounding says: one device alone, with micro-batches of 1, 2, 3 or
        // 6 pairs, spreads 8e-4 of step 3's loss and 4e-4 of a reward
        assertSameSteps(one, two, 2e-3, 1e-3, "--gpus 2 --zero 1 against one device");
    }

    /**
     * Accepted, and every step after the warm-up replayed (no step falls back to eager launches with a note);
     * the captured steps' losses against eager ones are {@code DpoDeviceStepTest}'s (bit for bit there).
     * Step 1's policy is the reference, so its loss is ln 2, up to the rounding of the padding: with
     * {@code --cuda-graph} every row is padded to the data's longest (so that the shapes repeat), the
     * reference's rows to their batch's longest.
     */
    @Test
    void capturedStepsRunOnCudaEmu() throws Exception {
        List<JsonNode> graph = run("emu-graph", "--backend", "cuda-emu", "--cuda-graph");
        assertEquals(Math.log(2), JsonChecks.number(graph.getFirst(), "loss"), 1e-2, graph.getFirst().toString());
        assertTrue(JsonChecks.number(graph.getLast(), "loss") < JsonChecks.number(graph.getFirst(), "loss"), graph.toString());
        assertTrue(JsonChecks.number(graph.getLast(), "rewards/margins") > 0, graph.getLast().toString());
    }
}
