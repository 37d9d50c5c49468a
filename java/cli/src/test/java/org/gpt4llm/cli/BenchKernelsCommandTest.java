package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.gpt4llm.backend.cuda.device.CudaAvailability;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm bench kernels}: the refusal without a GPU, and every case run once in the emulation. */
class BenchKernelsCommandTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void refusesWithOneSentenceWithoutAGpu() {
        assumeFalse(CudaAvailability.driverPresent(), "this machine has an NVIDIA driver");
        CliRun r = run("bench", "kernels", "--backend", "cuda");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm bench kernels: the cuda backend needs an NVIDIA driver: libcuda.so.1 cannot be loaded "
                + "on this machine; use --backend cpu or cuda-emu", r.err().strip());
        assertEquals("", r.out());
    }

    @Test
    void namesBadFlags() {
        CliRun r = run("bench", "kernels", "--backend", "cpu");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--backend cpu has no CUDA kernels to time"), r.err());
        r = run("bench", "kernels", "--backend", "cuda-emu", "--sizes", "tiny,70b");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("unknown size 70b in --sizes"), r.err());
    }

    @Test
    void doctorSaysWhyTheCudaBackendIsUnavailable() {
        assumeFalse(CudaAvailability.driverPresent(), "this machine has an NVIDIA driver");
        CliRun r = run("doctor");
        assertTrue(r.out().matches("(?s).*backend cuda\\s+unavailable: the cuda backend needs an NVIDIA driver.*"), r.out());
    }

    /** Every case of every family at the tiny size, once, through the emulation: the table and the JSON are complete. */
    @Test
    void everyCaseRunsInTheEmulation(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("kernels.json");
        CliRun r = run("bench", "kernels", "--backend", "cuda-emu", "--samples", "1", "--warmup", "0", "--quiet",
                "--json", json.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        for (String c : new String[] {"gemm qkv fwd NT bf16 64x256x128", "gemm mlp down dW TN bf16->f32 128x352x64",
                "embedding bwd", "rmsnorm bwd", "layernorm fwd", "rope fwd (q)", "attention fwd B=1 T=64 H=2/1 D=64",
                "attention bwd", "swiglu bwd", "cross-entropy fwd+bwd",
                "lora bwd r=16", "the time of frozen base GEMM 64x128x128 dy·W", "adamw", "grad-norm"}) {
            assertTrue(r.out().contains(c), c + " missing from\n" + r.out());
        }
        assertTrue(r.out().contains("libtorch CUDA: not available"), r.out());
        assertTrue(r.out().contains("gemm: FLOP = 2·M·N·K"), r.out());
        assertTrue(r.out().contains("attention: FLOP = 4·B·Hq·T²·D / 2 forward") && r.out().contains("2.5 × that backward"), r.out());
        // a case's keys depend on what it measures (GB/s, TFLOP/s, a peer): read by key, each one required
        JsonNode n = JsonChecks.tree(json);
        assertEquals("kernels", JsonChecks.text(n, "bench"));
        assertEquals("Device.gemm", JsonChecks.text(n, "peer"));
        assertEquals(1, (int) JsonChecks.number(n, "samples"));
        assertTrue(JsonChecks.required(n, "sizes").has("tiny"), n.toString());
        int rows = 0;
        for (JsonNode k : JsonChecks.nonEmptyArray(n, "kernels")) {
            rows++;
            assertFalse(k.has("error"), k.toString());
            assertEquals("tiny", JsonChecks.text(k, "size"));
            assertTrue(JsonChecks.number(k, "median_s") > 0, k.toString());
            assertTrue(k.has("gb_per_s") ? JsonChecks.number(k, "gb_per_s") > 0 : JsonChecks.number(k, "tflop_per_s") > 0,
                    k.toString());
            String name = JsonChecks.text(k, "kernel");
            if (name.startsWith("lora") || name.startsWith("attention")) {
                assertTrue(JsonChecks.number(k, "vs_peer") > 0, k.toString());
                assertFalse(JsonChecks.text(k, "peer").isBlank(), k.toString());
                assertTrue(JsonChecks.number(k, "peer_median_s") > 0, k.toString());
                // LoRA is set against the time of the frozen base GEMM it is added to, attention against GEMM FLOP rates
                assertEquals(name.startsWith("lora") ? "time" : "flop rate", JsonChecks.text(k, "vs_peer_of"), k.toString());
                if (name.startsWith("lora")) assertTrue(JsonChecks.text(k, "peer").startsWith("frozen base GEMM"), k.toString());
            }
        }
        assertTrue(rows >= 25, rows + " cases");
        assertFalse(JsonChecks.nonEmptyArray(n, "formulas").isEmpty());
    }
}
