package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU backend with half-precision (bf16, f16) weights against the same random weights in fp32. Its
 * logits differ by the rounding of the weights alone: each stored weight is off by at most half a unit
 * in the last place, a relative {@code u = 2^-8} (bf16, 8 significant bits) or {@code 2^-11} (f16), and
 * such independent errors add up in quadrature over the matrices a value passes through in series (the
 * embedding, about four per layer, the head). The tests allow {@code 3 u sqrt(2 + 4 layers)} of the logits'
 * norm (about 4% for bf16 at three layers, 0.5% for f16); a wrong panel, a transposed or unwidened weight
 * is off by the logits' whole size.
 */
class HalfWeightsTest {
    private static final Backend.AdamW HP = new Backend.AdamW(0.9f, 0.999f, 1e-8f, 0f);

    static double tolerance(DType half, ModelConfig cfg) {
        double u = half == DType.BF16 ? Math.scalb(1.0, -8) : Math.scalb(1.0, -11);
        return 3 * u * Math.sqrt(2 + 4 * cfg.numLayers());
    }

    static double relativeError(float[] got, float[] want) {
        double d = 0, n = 0;
        for (int i = 0; i < want.length; i++) {
            d += (got[i] - (double) want[i]) * (got[i] - (double) want[i]);
            n += (double) want[i] * want[i];
        }
        assertTrue(n > 0, "the reference logits are all zero");
        return Math.sqrt(d / n);
    }

    @Test
    void decodeLogitsOfLlamaAndOptMatchFp32WithinRounding() {
        for (ModelConfig cfg : new ModelConfig[] {TrainingFixtures.LLAMA, TrainingFixtures.OPT}) {
            for (DType half : new DType[] {DType.BF16, DType.F16}) {
                long seed = TestSeeds.next();
                Random rng = new Random(seed);
                // 2 rows x 11 prompt tokens: the prefill's 22 rows go through sgemm on widened panels,
                // each step's 2 rows through the GEMV
                int[][] prompts = new int[2][11];
                for (int[] p : prompts) for (int i = 0; i < p.length; i++) p[i] = rng.nextInt(cfg.vocabSize());
                double tol = tolerance(half, cfg);
                String what = cfg.modelType() + " " + half + " (seed " + seed + ")";
                try (Backend full = new CpuBackend(2); Backend low = new CpuBackend(2, half);
                     DecoderModel fm = DecoderModel.initRandom(full, cfg, seed);
                     DecoderModel hm = DecoderModel.initRandom(low, cfg, seed);
                     DecodeSession fs = fm.open(2, 16); DecodeSession hs = hm.open(2, 16)) {
                    float[][] want = fs.prefill(prompts), got = hs.prefill(prompts);
                    for (int step = 0; step <= 4; step++) {
                        int[] next = new int[2];
                        for (int r = 0; r < 2; r++) {
                            double err = relativeError(got[r], want[r]);
                            assertTrue(err <= tol, what + ": logits of row " + r + " at step " + step + " are off by "
                                    + err + " of their norm, more than " + tol);
                            next[r] = argmax(want[r]);
                        }
                        if (step < 4) {
                            want = fs.step(next);
                            got = hs.step(next);
                        }
                    }
                }
            }
        }
    }

    @Test
    void matricesTakeHalfTheBytesAndVectorsStayFp32() {
        ModelConfig cfg = TrainingFixtures.OPT; // with biases and layer norms: vectors of both kinds
        long seed = TestSeeds.next();
        try (Backend full = new CpuBackend(2); Backend low = new CpuBackend(2, DType.BF16);
             DecoderModel fm = DecoderModel.initRandom(full, cfg, seed);
             DecoderModel hm = DecoderModel.initRandom(low, cfg, seed)) {
            long matrices = 0, vectors = 0;
            for (var e : hm.parameters().entrySet()) {
                Tensor t = e.getValue();
                assertEquals(t.rank() >= 2 ? DType.BF16 : DType.F32, t.dtype(), e.getKey());
                if (t.rank() >= 2) matrices += t.numel(); else vectors += t.numel();
            }
            long fullBytes = full.memory().live().device(MemoryCategory.WEIGHTS);
            long halfBytes = low.memory().live().device(MemoryCategory.WEIGHTS);
            assertEquals(4 * (matrices + vectors), fullBytes, "fp32 weight bytes in the ledger");
            assertEquals(2 * matrices + 4 * vectors, halfBytes, "bf16 weight bytes in the ledger");
            assertTrue(halfBytes < 0.55 * fullBytes, "bf16 weights take " + halfBytes + " bytes against " + fullBytes);
        }
    }

    @Test
    void fullFineTuningOfHalfWeightsIsRefused() {
        try (Backend low = new CpuBackend(2, DType.BF16);
             DecoderModel m = DecoderModel.initRandom(low, TrainingFixtures.LLAMA, TestSeeds.next())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new AdamWOptimizer(low, m.trainableParameters(), m.trainableGradients(), HP));
            assertTrue(e.getMessage().contains("--dtype f32"), e.getMessage());
        }
    }

    /**
     * LoRA over a bf16 base: the adapters are fp32 and train (the loss of a fixed batch falls, along the
     * fp32 base's curve within the base's rounding), and the saved adapter on the fp32 base gives the same
     * logits within that rounding.
     */
    @Test
    void loraOverABf16BaseTrainsAndItsAdapterRunsOnFp32(@TempDir Path tmp) throws Exception {
        ModelConfig cfg = TrainingFixtures.LLAMA;
        long seed = TestSeeds.next();
        TokenBatch batch = TrainingFixtures.packed(12, new int[][] {{12}, {5, 7}}, cfg.vocabSize(), new Random(seed));
        Path adapter = tmp.resolve("adapter");
        float[] half = train(DType.BF16, cfg, seed, batch, adapter), full = train(DType.F32, cfg, seed, batch, null);
        String what = "seed " + seed + ": LoRA over bf16 weights";
        assertTrue(half[1] < 0.9f * half[0], what + " went from loss " + half[0] + " to " + half[1]);
        assertTrue(Math.abs(half[1] - full[1]) <= tolerance(DType.BF16, cfg) * full[0], what + " ended at loss "
                + half[1] + ", over fp32 weights " + full[1]);
        try (Backend be = new CpuBackend(2); DecoderModel m = DecoderModel.initRandom(be, cfg, seed)) {
            m.loadAdapter(adapter);
            m.setTraining(false);
            m.forward(batch);
            float[] logits = be.download(m.logits()), halfLogits = java.util.Arrays.copyOfRange(half, 2, half.length);
            double err = relativeError(halfLogits, logits), tol = tolerance(DType.BF16, cfg);
            assertTrue(err <= tol, what + ": the adapter's logits on bf16 and fp32 bases differ by " + err
                    + " of their norm, more than " + tol);
        }
    }

    /**
     * 30 AdamW steps of rank-4 LoRA on {@code batch} over weights kept in {@code type}: the first and last
     * losses, then the logits of the trained model; the adapter saved into {@code adapter} when not null.
     */
    private static float[] train(DType type, ModelConfig cfg, long seed, TokenBatch batch, Path adapter) throws Exception {
        try (Backend be = new CpuBackend(2, type); DecoderModel m = DecoderModel.initRandom(be, cfg, seed)) {
            m.enableLora(new LoraConfig(4, 8f, 0f, LoraConfig.LLAMA_TARGETS), seed);
            m.trainableParameters().forEach((name, t) -> assertEquals(DType.F32, t.dtype(), name));
            float first = Float.NaN, last = Float.NaN;
            try (AdamWOptimizer opt = new AdamWOptimizer(be, m.trainableParameters(), m.trainableGradients(), HP)) {
                for (int step = 0; step < 30; step++) {
                    m.zeroGrad();
                    last = m.forward(batch);
                    if (step == 0) first = last;
                    m.backward();
                    opt.step(3e-2f, 1f);
                }
            }
            if (adapter != null) m.saveAdapter(adapter, "base");
            m.setTraining(false);
            m.forward(batch);
            float[] logits = be.download(m.logits()), out = new float[2 + logits.length];
            out[0] = first;
            out[1] = last;
            System.arraycopy(logits, 0, out, 2, logits.length);
            return out;
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
