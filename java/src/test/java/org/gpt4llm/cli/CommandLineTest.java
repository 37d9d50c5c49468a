package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommandLineTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void doctorReportsTheCpuBackendAndWhyCudaIsMissing() {
        CliRun r = run("doctor");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().matches("(?s).*backend cpu\\s+available.*"), r.out());
        assertTrue(r.out().matches("(?s).*backend cuda-emu\\s+available.*"), r.out());
        assertTrue(r.out().contains("blas") && r.out().contains("OpenBLAS"), r.out());
        assertTrue(r.out().matches("(?s).*\\ncuda\\s+\\S.*"), r.out());
    }

    @Test
    void initModelWritesAnHfCheckpointWithHfInitialisation(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("m");
        CliRun r = run("init-model", "--arch", "llama", "--preset", "tiny", "--vocab", "301", "--out", out.toString(),
                "--seed", "7");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(out.resolve("config.json")));
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        try (DecoderModel m = DecoderModel.load(new CpuBackend(2), out)) {
            assertEquals(301, m.config().vocabSize());
            float[] q = m.parameters().get("model.layers.1.self_attn.q_proj.weight").toFloatArray();
            double mean = 0, sq = 0;
            for (float v : q) {
                mean += v;
                sq += (double) v * v;
            }
            mean /= q.length;
            double std = Math.sqrt(sq / q.length - mean * mean);
            assertEquals(0.0, mean, 0.002, "mean of normal(0, 0.02) init");
            assertEquals(0.02, std, 0.002, "std of normal(0, 0.02) init");
            for (float v : m.parameters().get("model.norm.weight").toFloatArray()) assertEquals(1f, v);
        }
        // same seed, same weights; another seed, other weights
        Path again = dir.resolve("again"), other = dir.resolve("other");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "301", "--out", again.toString(), "--seed", "7").code());
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "301", "--out", other.toString(), "--seed", "8").code());
        assertArrayEquals(Files.readAllBytes(out.resolve("model.safetensors")), Files.readAllBytes(again.resolve("model.safetensors")));
        assertTrue(!java.util.Arrays.equals(Files.readAllBytes(out.resolve("model.safetensors")),
                Files.readAllBytes(other.resolve("model.safetensors"))));
    }

    @Test
    void initModelRefusesToOverwriteAndNamesBadFlags(@TempDir Path dir) {
        Path out = dir.resolve("m");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "50", "--out", out.toString()).code());
        CliRun again = run("init-model", "--preset", "tiny", "--vocab", "50", "--out", out.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("--force"), again.err());
        CliRun badPreset = run("init-model", "--preset", "huge", "--vocab", "50", "--out", dir.resolve("x").toString());
        assertEquals(2, badPreset.code());
        assertTrue(badPreset.err().contains("--preset huge"), badPreset.err());
        CliRun badDtype = run("init-model", "--dtype", "f8", "--vocab", "50", "--out", dir.resolve("y").toString());
        assertEquals(2, badDtype.code());
        assertTrue(badDtype.err().contains("--dtype f8"), badDtype.err());
    }

    @Test
    void bf16CheckpointLoadsAsTheRoundedWeights(@TempDir Path dir) throws Exception {
        Path f32 = dir.resolve("f32"), bf16 = dir.resolve("bf16");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "64", "--out", f32.toString(), "--seed", "3").code());
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "64", "--out", bf16.toString(), "--seed", "3",
                "--dtype", "bf16").code());
        CpuBackend be = new CpuBackend(2);
        try (DecoderModel a = DecoderModel.load(be, f32); DecoderModel b = DecoderModel.load(be, bf16)) {
            for (var e : a.parameters().entrySet()) {
                float[] x = e.getValue().toFloatArray(), y = b.parameters().get(e.getKey()).toFloatArray();
                for (int i = 0; i < x.length; i++) {
                    // bf16 keeps 7 explicit mantissa bits: round-to-nearest is off by at most 2^-8 relative
                    assertEquals(x[i], y[i], Math.abs(x[i]) * 0x1p-8f * 1.001f, e.getKey() + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void modelCheckpointRoundTripsBitIdentically(@TempDir Path dir) throws Exception {
        CpuBackend be = new CpuBackend(2);
        Path first = dir.resolve("first"), second = dir.resolve("second");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "77", "--out", first.toString(),
                "--seed", "11", "--tie-embeddings").code());
        try (DecoderModel m = DecoderModel.load(be, first)) {
            m.save(second);
            try (DecoderModel back = DecoderModel.load(be, second)) {
                for (var e : m.parameters().entrySet()) {
                    Tensor t = back.parameters().get(e.getKey());
                    assertEquals(-1L, e.getValue().data().mismatch(t.data()), e.getKey());
                }
                assertTrue(back.config().tieWordEmbeddings());
            }
        }
        assertArrayEquals(Files.readAllBytes(first.resolve("model.safetensors")),
                Files.readAllBytes(second.resolve("model.safetensors")));
    }
}
