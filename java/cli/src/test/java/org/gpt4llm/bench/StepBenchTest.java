package org.gpt4llm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.cli.Main;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm bench step} runs end to end on a tiny model; no timing is asserted. */
class StepBenchTest {
    @Test
    void tinyStepReportsBothSidesAndARatio(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        CliRun run = CliRun.of("bench", "step", "--preset", "tiny", "--compare", "libtorch",
                    "--vocab", "301", "--batch", "2", "--seq", "24", "--threads", "2", "--steps", "1", "--warmup", "0",
                    "--json", json.toString());
        int code = run.code();
        String out = run.out();
        System.out.print(out);
        assertEquals(0, code, out);
        Matcher ratio = Pattern.compile("(?m)^ratio_vs_libtorch=([0-9.]+)$").matcher(out);
        assertTrue(ratio.find(), "no ratio line in:\n" + out);
        assertTrue(Double.parseDouble(ratio.group(1)) > 0, out);
        assertTrue(out.contains("threads 2"), out);

        // a full step: the report without the LoRA keys, so the sides are read as records and the rest by key
        JsonNode n = JsonChecks.tree(json);
        assertFalse(n.has("lora_rank"), n.toString());
        for (String side : new String[] {"ours", "libtorch"}) {
            StepBench.Report.Side s = JsonChecks.read(JsonChecks.required(n, side), StepBench.Report.Side.class);
            assertTrue(s.medianStepS() > 0 && s.tokensPerS() > 0 && s.gflops() > 0, side + ": " + s);
            assertEquals(2, s.threads(), side + " threads in " + n);
            assertEquals(2, s.blasThreads(), side + " BLAS threads in " + n);
            assertEquals(1, s.stepS().length, side + ": one timed step");
        }
        double sgemm = JsonChecks.number(n, "openblas_sgemm_gflops");
        assertTrue(sgemm > 0, n.toString());
        // the step's model FLOP rate against sgemm at the MLP shape, both from this run
        double ours = JsonChecks.number(JsonChecks.required(n, "ours"), "gflops");
        assertEquals(ours / sgemm, JsonChecks.number(n, "fraction_of_sgemm"), 1e-9 * ours / sgemm, n.toString());
        assertTrue(out.contains("fraction_of_sgemm="), out);
        assertTrue(JsonChecks.number(n, "ratio_vs_libtorch") > 0, n.toString());
        // both sides computed the same step on the same weights and batch
        assertTrue(JsonChecks.number(n, "first_loss_rel_diff") < 1e-4, n.toString());
    }

    @Test
    void loraStepReportsBothSides(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("lora.json");
        CliRun run = CliRun.of("bench", "step", "--preset", "tiny", "--vocab", "301", "--batch", "2",
                    "--seq", "24", "--threads", "2", "--steps", "2", "--warmup", "0", "--lora-rank", "4",
                    "--lora-targets", "q_proj,v_proj,down_proj", "--json", json.toString());
        int code = run.code();
        String out = run.out();
        System.out.print(out);
        assertEquals(0, code, out);
        assertTrue(out.contains("LoRA step: rank 4, alpha 8.0, dropout 0.0 on q_proj,v_proj,down_proj"), out);
        // a LoRA step compared with libtorch on the CPU has every key of the report but the CPU peer's
        JsonNode n = JsonChecks.tree(json);
        assertFalse(n.has("cpu") || n.has("ratio_vs_cpu"), "libtorch is the peer: " + n);
        assertEquals("step", JsonChecks.text(n, "bench"));
        assertEquals(4, JsonChecks.integer(n, "lora_rank"));
        assertEquals(8.0, JsonChecks.number(n, "lora_alpha"));
        assertEquals(List.of("q_proj", "v_proj", "down_proj"), JsonChecks.readList(n, "lora_targets", String.class));
        assertEquals(List.of(48, 176, 64), JsonChecks.readList(n, "openblas_sgemm_mnk", Integer.class),
                "the MLP shape: batch x seq tokens, ffn, hidden");
        StepBench.Report.Side ours = JsonChecks.read(JsonChecks.required(n, "ours"), StepBench.Report.Side.class);
        StepBench.Report.Side torch = JsonChecks.read(JsonChecks.required(n, "libtorch"), StepBench.Report.Side.class);
        assertTrue(torch.tokensPerS() > 0 && ours.tokensPerS() > 0, n.toString());
        assertEquals(2, torch.stepS().length);
        assertTrue(JsonChecks.number(n, "ratio_vs_libtorch") > 0, n.toString());
        JsonNode counters = JsonChecks.required(n, "device_counters");
        assertTrue(counters.isArray() && counters.isEmpty(), "no device counters on the cpu backend: " + n);
        assertFalse(JsonChecks.required(n, "cuda_graph").asBoolean(), n.toString());
        assertTrue(JsonChecks.number(n, "first_loss_rel_diff") < 1e-4, n.toString());
        assertPeakNearPlan(n, out);
    }

    /** The same command drives the CUDA backend; here through the emulation, which runs the real kernels. */
    @Test
    void cudaEmuStepRunsThroughTheSameCommand(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("emu.json");
        CliRun run = CliRun.of("bench", "step", "--backend", "cuda-emu", "--compare", "none",
                    "--preset", "tiny", "--vocab", "301", "--batch", "2", "--seq", "24", "--steps", "1", "--warmup", "0",
                    "--json", json.toString());
        int code = run.code();
        String out = run.out();
        assertEquals(0, code, out);
        JsonNode n = JsonChecks.tree(json);
        StepBench.Report.Side ours = JsonChecks.read(JsonChecks.required(n, "ours"), StepBench.Report.Side.class);
        assertTrue(ours.medianStepS() > 0, n.toString());
        // a random-init model starts near the uniform loss ln(301) = 5.71
        assertEquals(Math.log(301), ours.firstLoss(), 0.5, out);
        assertFalse(n.has("openblas_sgemm_gflops"), "no CPU ceiling next to a GPU backend: " + n);
        assertFalse(n.has("libtorch") || n.has("first_loss_rel_diff"), "no peer with --compare none: " + n);
        assertPeakNearPlan(n, out);
    }

    /** The measured peak of our side is printed and reported next to the plan's figure, and within 10% of it. */
    private static void assertPeakNearPlan(JsonNode n, String out) {
        long peak = JsonChecks.integer(n, "peak_device_bytes"), planned = JsonChecks.integer(n, "planned_device_bytes");
        assertTrue(peak > 0 && Math.abs(peak - planned) <= 0.1 * planned, "measured " + peak + ", planned " + planned);
        assertTrue(out.contains(String.format(java.util.Locale.ROOT, "device memory: peak %,d bytes", peak)), out);
    }

    /**
     * Without --compare a CUDA backend is timed against the CPU backend in the same run, and its
     * device counters are printed and reported next to the comparison.
     */
    @Test
    void cudaEmuStepIsTimedAgainstTheCpuBackend(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("emu-cpu.json");
        CliRun run = CliRun.of("bench", "step", "--backend", "cuda-emu", "--preset", "tiny", "--vocab", "301",
                    "--batch", "2", "--seq", "24", "--threads", "2", "--steps", "1", "--warmup", "0", "--json", json.toString());
        int code = run.code();
        String out = run.out();
        System.out.print(out);
        assertEquals(0, code, out);
        Matcher ratio = Pattern.compile("(?m)^ratio_vs_cpu=([0-9.]+)$").matcher(out);
        assertTrue(ratio.find(), "no ratio line in:\n" + out);
        assertTrue(Pattern.compile("(?m)^all 1 steps \\(warmup included\\): ours [0-9.]+ s, cpu [0-9.]+ s").matcher(out).find(), out);
        assertTrue(out.contains("device counters per step:"), out);
        JsonNode n = JsonChecks.tree(json);
        for (String side : new String[] {"ours", "cpu"}) {
            StepBench.Report.Side s = JsonChecks.read(JsonChecks.required(n, side), StepBench.Report.Side.class);
            assertTrue(s.medianStepS() > 0, side + ": " + s);
            assertEquals(2, s.threads(), side + " threads in " + n);
        }
        assertEquals(Double.parseDouble(ratio.group(1)), JsonChecks.number(n, "ratio_vs_cpu"), 1e-3, n.toString());
        assertFalse(n.has("libtorch") || n.has("ratio_vs_libtorch"), n.toString());
        // the same weights and batch: bf16 against fp32 moves the loss by well under a percent
        assertTrue(JsonChecks.number(n, "first_loss_rel_diff") < 3e-2, n.toString());
        // our side's device counters only: the CPU peer's work is not counted on the device
        JsonNode steps = JsonChecks.nonEmptyArray(n, "device_counters");
        assertEquals(1, steps.size(), n.toString());
        assertTrue(JsonChecks.number(steps.get(0), "launches") > 0 && JsonChecks.number(steps.get(0), "gemms") > 0, n.toString());
        assertFalse(JsonChecks.required(n, "cuda_graph").asBoolean(), n.toString());
    }

    /**
     * On a cuda backend each step's device counters are printed and reported; with --cuda-graph step 2
     * is captured and step 3 replays it: one graph launch, one wait (the read-back), no allocation.
     */
    @Test
    void cudaEmuStepPrintsItsDeviceCountersAndReplaysAGraph(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("graph.json");
        CliRun run = CliRun.of("bench", "step", "--backend", "cuda-emu", "--compare", "none", "--cuda-graph",
                    "--preset", "tiny", "--vocab", "301", "--batch", "2", "--seq", "16", "--steps", "2", "--warmup", "1",
                    "--json", json.toString());
        int code = run.code();
        String out = run.out();
        System.out.print(out);
        assertEquals(0, code, out);
        assertTrue(out.contains("step 3/3: "), out);
        assertTrue(Pattern.compile("(?m)^ours +step 3/3: .*; launches 0, gemms 0, graphs 1, syncs 1, allocs 0, frees 0, "
                + "H2D 2 \\(.*\\), D2H 1 \\(8 B\\)").matcher(out).find(), out);
        assertTrue(out.contains("device counters per step (--cuda-graph: step 2 is captured, later ones replay it):"), out);
        JsonNode n = JsonChecks.tree(json);
        assertTrue(JsonChecks.required(n, "cuda_graph").asBoolean(), n.toString());
        JsonNode steps = JsonChecks.nonEmptyArray(n, "device_counters");
        assertEquals(3, steps.size(), n.toString());
        assertTrue(JsonChecks.number(steps.get(0), "allocations") > 0, "the first step sizes the buffers: " + steps);
        for (int i = 1; i < 3; i++) {
            JsonNode s = steps.get(i);
            assertEquals(1, JsonChecks.number(s, "graph_launches"), "step " + (i + 1) + ": " + s);
            assertEquals(1, JsonChecks.number(s, "synchronizations"), "step " + (i + 1) + ": " + s);
            assertEquals(0, JsonChecks.number(s, "allocations"), "step " + (i + 1) + ": " + s);
            assertEquals(0, JsonChecks.number(s, "launches"), "step " + (i + 1) + ": " + s);
            assertEquals(8, JsonChecks.number(s, "download_bytes"), "step " + (i + 1) + ": " + s);
        }
    }

    @Test
    void libtorchComparesOnlyWithTheCpuBackend() {
        int code = Main.commandLine().execute("bench", "step", "--backend", "cuda-emu", "--compare", "libtorch",
                "--preset", "tiny", "--vocab", "301", "--steps", "1");
        assertEquals(2, code);
        code = Main.commandLine().execute("bench", "step", "--backend", "cpu", "--compare", "cpu", "--preset", "tiny",
                "--vocab", "301", "--steps", "1");
        assertEquals(2, code);
    }

    @Test
    void flopFormula() {
        // hidden 64, kv 32, ffn 176, 2 layers, vocab 100, batch 2 x seq 64
        LlamaConfig c = LlamaConfig.preset("tiny", 100);
        double p = 2 * (2.0 * 64 * 64 + 2.0 * 64 * 32 + 3.0 * 64 * 176) + 100 * 64;
        double expected = 6 * p * 128 + 6 * 2 * 2 * 64.0 * 64 * 64;
        assertEquals(expected, StepBench.stepFlops(c, 2, 64, null), 1e-6 * expected);
    }
}
