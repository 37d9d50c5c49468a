package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.CpuKernels.SimdPath;
import org.gpt4llm.gguf.GgufLlama;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU backend with half-precision (bf16, f16) weights against fp32 models. Against the fp32 model of
 * the same weights (the half ones widened, exactly), only the order of fp32 sums differs, and logits
 * agree to {@link #SAME_WEIGHTS} of their norm (fp32 rounding, far below it); a wrong panel, a transposed or
 * unwidened weight is off by the logits' whole size. Against the unrounded fp32 weights, each stored
 * weight is off by at most half a unit in the last place, a relative {@code u = 2^-8} (bf16) or
 * {@code 2^-11} (f16); such independent errors add up in quadrature over the matrices a value passes
 * through in series (the embedding, about four per layer, the head): {@link #roundingTolerance} allows
 * {@code 3 u sqrt(2 + 4 layers)} of the logits' norm. These run with bf16 weights widened
 * ({@link CpuKernels#widenHalfWeights}); the AVX512_BF16 dot products, which round activations to bf16
 * as well, have their own test.
 */
class HalfWeightsTest {
    /** Relative error of logits, half weights against the same weights in fp32: summation order alone. */
    static final double SAME_WEIGHTS = 1e-5;
    private static final Backend.AdamW HP = new Backend.AdamW(0.9f, 0.999f, 1e-8f, 0f);

    @BeforeEach
    void widened() {
        CpuKernels.widenHalfWeights();
    }

    @AfterEach
    void bestPath() {
        CpuKernels.forceSimdPath(null);
    }

    static double roundingTolerance(DType half, ModelConfig cfg) {
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

    /** An fp32 model holding {@code half}'s weights widened: the same values, in fp32. */
    static DecoderModel widened(Backend fp32, DecoderModel half) {
        return DecoderModels.create(fp32, half.config(), half.parameters());
    }

    @Test
    void decodeLogitsOfLlamaAndOptMatchFp32OfTheSameWeights() {
        for (ModelConfig cfg : new ModelConfig[] {TrainingFixtures.LLAMA, TrainingFixtures.OPT}) {
            for (DType half : new DType[] {DType.BF16, DType.F16}) {
                long seed = TestSeeds.next();
                Random rng = new Random(seed);
                // 2 rows x 11 prompt tokens: the prefill's 22 rows go through sgemm on widened panels,
                // each step's 2 rows through the GEMV
                int[][] prompts = new int[2][11];
                for (int[] p : prompts) for (int i = 0; i < p.length; i++) p[i] = rng.nextInt(cfg.vocabSize());
                String what = cfg.modelType() + " " + half + " (seed " + seed + ")";
                try (Backend full = new CpuBackend(2); Backend low = new CpuBackend(2, half);
                     DecoderModel hm = DecoderModels.initRandom(low, cfg, seed);
                     DecoderModel same = widened(full, hm);
                     DecoderModel unrounded = DecoderModels.initRandom(full, cfg, seed)) {
                    List<int[]> fed = new ArrayList<>();
                    List<float[][]> want = decode(same, prompts, 4, fed);
                    List<float[][]> got = decode(hm, prompts, 4, fed);
                    List<float[][]> exact = decode(unrounded, prompts, 4, fed);
                    double rounding = roundingTolerance(half, cfg);
                    for (int step = 0; step < want.size(); step++) {
                        for (int r = 0; r < prompts.length; r++) {
                            double err = relativeError(got.get(step)[r], want.get(step)[r]);
                            assertTrue(err <= SAME_WEIGHTS, what + ": logits of row " + r + " at step " + step
                                    + " are off those of the same weights in fp32 by " + err + " of their norm");
                            err = relativeError(got.get(step)[r], exact.get(step)[r]);
                            assertTrue(err <= rounding, what + ": logits of row " + r + " at step " + step
                                    + " are off those of the unrounded weights by " + err + ", more than " + rounding);
                        }
                    }
                }
            }
        }
    }

    /**
     * The AVX512_BF16 dot products (emulated on a CPU without them) round a decode step's activations to
     * bf16 where they meet a matrix: an error of at most u = 2^-8 at the inputs of the same matrices
     * the weights' rounding touches, so the logits stay within {@link #roundingTolerance} of the same
     * weights in fp32 (the prefill's too: its layers' 22 rows go through sgemm on widened panels, its
     * LM head's last two through the GEMV).
     */
    @Test
    void bf16DotProductsKeepDecodeLogitsWithinTheActivationsRounding() {
        ModelConfig cfg = TrainingFixtures.LLAMA;
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[][] prompts = new int[2][11];
        for (int[] p : prompts) for (int i = 0; i < p.length; i++) p[i] = rng.nextInt(cfg.vocabSize());
        CpuKernels.forceSimdPath(SimdPath.AVX512_BF16);
        try (Backend full = new CpuBackend(2); Backend low = new CpuBackend(2, DType.BF16);
             DecoderModel hm = DecoderModels.initRandom(low, cfg, seed); DecoderModel same = widened(full, hm)) {
            List<int[]> fed = new ArrayList<>();
            List<float[][]> want = decode(same, prompts, 4, fed);
            List<float[][]> got = decode(hm, prompts, 4, fed);
            double rounding = roundingTolerance(DType.BF16, cfg), largest = 0;
            for (int step = 0; step < want.size(); step++) {
                for (int r = 0; r < prompts.length; r++) {
                    double err = relativeError(got.get(step)[r], want.get(step)[r]);
                    assertTrue(err <= rounding, "seed " + seed + ": logits of row " + r + " at step " + step
                            + " on the bf16 dot products are off those of the same weights in fp32 by " + err
                            + ", more than " + rounding);
                    largest = Math.max(largest, err);
                }
            }
            // the dot products did run: the activations' rounding shows, far above summation order
            assertTrue(largest > 10 * SAME_WEIGHTS, "seed " + seed + ": decode logits within " + largest
                    + " of fp32's, as if activations had not been rounded to bf16");
        }
    }

    /** The real stories260K: bf16 weights decode the same greedy story as their fp32 widening. */
    @Test
    void stories260kGreedyTokensAgreeWithFp32(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("stories260K");
        GgufLlama.convert(SharedFiles.get("models/stories260K.gguf"), dir);
        // one thread: for a model this small, idle OpenMP workers cost more than they save
        try (Backend full = new CpuBackend(1); Backend low = new CpuBackend(1, DType.BF16);
             DecoderModel hm = DecoderModels.load(low, dir); DecoderModel same = widened(full, hm);
             DecoderModel unrounded = DecoderModels.load(full, dir)) {
            int[][] prompts = {{hm.config().bosTokenId()}, {hm.config().bosTokenId(), 403, 407, 261}};
            List<int[]> halfTokens = new ArrayList<>(), fullTokens = new ArrayList<>();
            List<float[][]> got = decode(hm, prompts, 40, halfTokens);
            List<float[][]> want = decode(same, prompts, 40, fullTokens);
            for (int s = 0; s < halfTokens.size(); s++) {
                assertEquals(Arrays.toString(fullTokens.get(s)), Arrays.toString(halfTokens.get(s)),
                        "greedy tokens of step " + s + " (bf16 weights, then the same in fp32)");
                for (int r = 0; r < prompts.length; r++) {
                    double err = relativeError(got.get(s)[r], want.get(s)[r]);
                    assertTrue(err <= SAME_WEIGHTS, "stories260K logits of row " + r + " at step " + s + " are off by " + err);
                }
            }
            // against the checkpoint's own fp32 weights, along the same tokens: within their rounding
            List<float[][]> exact = decode(unrounded, prompts, 40, halfTokens);
            double tol = roundingTolerance(DType.BF16, hm.config());
            for (int s = 0; s < exact.size(); s++) {
                for (int r = 0; r < prompts.length; r++) {
                    double err = relativeError(got.get(s)[r], exact.get(s)[r]);
                    assertTrue(err <= tol, "stories260K logits of row " + r + " at step " + s + " are off those of"
                            + " the fp32 checkpoint by " + err + ", more than " + tol);
                }
            }
        }
    }

    /**
     * Logits of prefilling {@code prompts}, then of each of {@code steps} decode steps, feeding the tokens
     * of {@code fed} where it has them and else the argmax of the last logits (added to {@code fed}).
     */
    private static List<float[][]> decode(DecoderModel m, int[][] prompts, int steps, List<int[]> fed) {
        List<float[][]> out = new ArrayList<>();
        int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        try (DecodeSession s = m.open(prompts.length, longest + steps)) {
            out.add(s.prefill(prompts));
            for (int step = 0; step < steps; step++) {
                if (fed.size() == step) {
                    float[][] last = out.getLast();
                    int[] next = new int[prompts.length];
                    for (int r = 0; r < next.length; r++) next[r] = argmax(last[r]);
                    fed.add(next);
                }
                out.add(s.step(fed.get(step)));
            }
        }
        return out;
    }

    @Test
    void matricesTakeHalfTheBytesAndVectorsStayFp32() {
        ModelConfig cfg = TrainingFixtures.OPT; // with biases and layer norms: vectors of both kinds
        long seed = TestSeeds.next();
        try (Backend full = new CpuBackend(2); Backend low = new CpuBackend(2, DType.BF16);
             DecoderModel fm = DecoderModels.initRandom(full, cfg, seed);
             DecoderModel hm = DecoderModels.initRandom(low, cfg, seed)) {
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
             DecoderModel m = DecoderModels.initRandom(low, TrainingFixtures.LLAMA, TestSeeds.next())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new AdamWOptimizer(low, m.trainableParameters(), m.trainableGradients(), HP));
            assertTrue(e.getMessage().contains("--dtype f32"), e.getMessage());
        }
    }

    /**
     * LoRA over a bf16 base (its backward multiplies by the frozen half weights for the input gradient)
     * against LoRA over the same weights in fp32: the first loss agrees to summation order, the adapters
     * are fp32 and train (the loss of a fixed batch falls) along the fp32 run, and the saved adapter on
     * the fp32 base gives the trained bf16 model's logits.
     */
    @Test
    void loraOverABf16BaseTrainsAsOverTheSameWeightsInFp32(@TempDir Path tmp) throws Exception {
        ModelConfig cfg = TrainingFixtures.LLAMA;
        long seed = TestSeeds.next();
        TokenBatch batch = TrainingFixtures.packed(12, new int[][] {{12}, {5, 7}}, cfg.vocabSize(), new Random(seed));
        Path adapter = tmp.resolve("adapter");
        String what = "seed " + seed + ": LoRA over bf16 weights";
        try (Backend full = new CpuBackend(2); Backend low = new CpuBackend(2, DType.BF16);
             DecoderModel hm = DecoderModels.initRandom(low, cfg, seed); DecoderModel fm = widened(full, hm)) {
            float[] half = train(hm, seed, batch, adapter), same = train(fm, seed, batch, null);
            assertEquals(same[0], half[0], SAME_WEIGHTS * same[0], what + ": the loss of step 1");
            System.out.printf("LoRA losses over bf16: %.6f -> %.6f; over the same weights in fp32: %.6f -> %.6f%n",
                    half[0], half[1], same[0], same[1]);
            // an adapter that does not train stays at its first loss; random tokens leave 2-10% to learn in 30 steps
            assertTrue(half[1] < 0.99f * half[0], what + " went from loss " + half[0] + " to " + half[1]);
            // 30 Adam steps carry the summation-order differences along; a wrong gradient would not end this close
            assertEquals(same[1], half[1], 1e-4 * same[0], what + ": the loss after 30 steps");
            try (DecoderModel base = widened(full, hm)) {
                // hm still carries its adapters: a fresh fp32 widening of its base weights
                base.loadAdapter(adapter);
                base.setTraining(false);
                base.forward(batch);
                float[] logits = full.download(base.logits()), halfLogits = Arrays.copyOfRange(half, 2, half.length);
                double err = relativeError(halfLogits, logits);
                assertTrue(err <= 1e-4, what + ": the adapter's logits on the bf16 base and on its fp32 widening differ"
                        + " by " + err + " of their norm");
            }
        }
    }

    /**
     * 30 AdamW steps of rank-4 LoRA on {@code batch} over {@code m}: the first and last losses, then the
     * logits of the trained model; the adapter saved into {@code adapter} when not null.
     */
    private static float[] train(DecoderModel m, long seed, TokenBatch batch, Path adapter) throws Exception {
        Backend be = m.backend();
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

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
