package org.gpt4llm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.cli.Main;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.testing.CliRun;
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

        JsonNode n = new ObjectMapper().readTree(json.toFile());
        for (String side : new String[] {"ours", "libtorch"}) {
            assertTrue(n.path(side).path("median_step_s").asDouble() > 0, side + " time in " + n);
            assertTrue(n.path(side).path("tokens_per_s").asDouble() > 0, side + " tokens/s in " + n);
            assertTrue(n.path(side).path("gflops").asDouble() > 0, side + " GFLOP/s in " + n);
            assertEquals(2, n.path(side).path("threads").asInt(), side + " threads in " + n);
            assertEquals(2, n.path(side).path("blas_threads").asInt(), side + " BLAS threads in " + n);
        }
        assertTrue(n.path("openblas_sgemm_gflops").asDouble() > 0, n.toString());
        assertTrue(n.path("ratio_vs_libtorch").asDouble() > 0, n.toString());
        // both sides computed the same step on the same weights and batch
        assertTrue(n.path("first_loss_rel_diff").asDouble() < 1e-4, n.toString());
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
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertEquals(4, n.path("lora_rank").asInt(), n.toString());
        assertTrue(n.path("libtorch").path("tokens_per_s").asDouble() > 0, n.toString());
        assertTrue(n.path("first_loss_rel_diff").asDouble() < 1e-4, n.toString());
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
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertTrue(n.path("ours").path("median_step_s").asDouble() > 0, n.toString());
        // a random-init model starts near the uniform loss ln(301) = 5.71
        double loss = n.path("ours").path("first_loss").asDouble();
        assertEquals(Math.log(301), loss, 0.5, out);
        assertTrue(!n.has("openblas_sgemm_gflops"), "no CPU ceiling next to a GPU backend: " + n);
    }

    @Test
    void libtorchComparesOnlyWithTheCpuBackend() {
        int code = Main.commandLine().execute("bench", "step", "--backend", "cuda-emu", "--compare", "libtorch",
                "--preset", "tiny", "--vocab", "301", "--steps", "1");
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
