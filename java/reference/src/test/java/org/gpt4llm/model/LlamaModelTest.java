package org.gpt4llm.model;

import static org.gpt4llm.testing.Numerics.lossIgnores;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.reference.TorchDecoder;
import org.gpt4llm.reference.TorchLlama;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.DecoderInputs;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * Our LLaMA against {@link TorchLlama} (libtorch ops and autograd, never our code) on fresh random
 * weights and tokens: logits on non-padding rows, loss and every parameter gradient to relative norm
 * error below 1e-4 in fp32, and three AdamW steps with weight decay and clipping against libtorch's
 * AdamW.
 */
class LlamaModelTest {
    private static final double TOL = 1e-4;
    /** hidden 40 → head dim 10, 4 query heads over 2 kv heads, odd FFN and vocabulary. */
    private static final LlamaConfig GQA = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(97).maxPositionEmbeddings(128).build();
    private static final LlamaConfig MHA = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(2)
            .numHeads(4).numKvHeads(4).rmsNormEps(1e-6f).ropeTheta(500000f).vocabSize(97).maxPositionEmbeddings(128)
            .build();
    private static final LlamaConfig TIED = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(97).tieWordEmbeddings(true)
            .maxPositionEmbeddings(128).build();

    @Test
    void gqaOddSizes() {
        Random rng = new Random(TestSeeds.next());
        int[][] rows = new int[3][13];
        for (int[] r : rows) for (int j = 0; j < r.length; j++) r[j] = rng.nextInt(GQA.vocabSize());
        compare("gqa", GQA, TokenBatch.causalLm(rows, 0));
    }

    @Test
    void mhaWithPadding() {
        Random rng = new Random(TestSeeds.next());
        int[][] rows = {new int[13], new int[8], new int[3]};
        for (int[] r : rows) for (int j = 0; j < r.length; j++) r[j] = rng.nextInt(MHA.vocabSize());
        compare("mha+padding", MHA, TokenBatch.causalLm(rows, 0));
    }

    @Test
    void packedSequences() {
        Random rng = new Random(TestSeeds.next());
        compare("packed", GQA, packed(13, new int[][] {{5, 6}, {4, 9}, {13}}, GQA.vocabSize(), rng));
    }

    @Test
    void tiedEmbeddings() {
        Random rng = new Random(TestSeeds.next());
        compare("tied", TIED, packed(13, new int[][] {{13}, {7, 6}, {9}}, TIED.vocabSize(), rng));
    }

    @Test
    void threeAdamWStepsMatchLibtorch() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        LlamaConfig cfg = GQA;
        adamWStepsMatch(cfg, randomWeights(cfg, rng), t -> new TorchLlama(cfg, t, 2),
                () -> packed(13, new int[][] {{13}, {6, 7}, {10}}, cfg.vocabSize(), rng), seed);
    }

    /**
     * Three AdamW steps with weight decay and clipping of our model and of {@code reference} (built
     * on the same weights) on the batches {@code batches} gives: gradient norms and parameters to 1e-4,
     * each step's update to 1e-3.
     */
    static void adamWStepsMatch(ModelConfig cfg, Map<String, float[]> w, Function<Map<String, Tensor>, TorchDecoder> reference,
                                Supplier<TokenBatch> batches, long seed) {
        // eps well below typical |gradient| (~1e-2) but far above gradient rounding (~1e-9): with eps = 1e-8
        // an element whose gradient is ~0 gets an update of ±lr decided by rounding noise on each side
        Backend.AdamW hp = new Backend.AdamW(0.9f, 0.95f, 1e-5f, 0.1f);
        float lr = 3e-3f;
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel ours = DecoderModels.create(backend, cfg, tensors(arena, cfg, w));
             AdamWOptimizer opt = new AdamWOptimizer(backend, ours.parameters(), ours.gradients(), hp);
             TorchDecoder ref = reference.apply(tensors(arena, cfg, w))) {
            ref.useAdamW(hp.beta1(), hp.beta2(), hp.eps(), hp.weightDecay());
            Map<String, float[]> before = ref.parameters();
            for (int step = 1; step <= 3; step++) {
                TokenBatch b = batches.get();
                ours.zeroGrad();
                ours.forward(b);
                ours.backward();
                ref.forward(b);
                ref.backward();
                double sq = 0;
                for (Tensor g : ours.gradients().values()) for (float v : g.toFloatArray()) sq += (double) v * v;
                float maxNorm = (float) (0.3 * Math.sqrt(sq));   // clips every step
                double oursNorm = opt.step(lr, maxNorm);
                double refNorm = ref.step(lr, maxNorm);
                assertEquals(refNorm, oursNorm, TOL * refNorm, "seed " + seed + ": step " + step + " grad norm");
                Map<String, float[]> after = ref.parameters();
                double worst = 0, worstDelta = 0;
                for (var e : after.entrySet()) {
                    float[] mine = ours.parameters().get(e.getKey()).toFloatArray();
                    double err = Numerics.relErr(mine, e.getValue());
                    float[] dMine = new float[mine.length], dRef = new float[mine.length];
                    for (int i = 0; i < mine.length; i++) {
                        dMine[i] = mine[i] - before.get(e.getKey())[i];
                        dRef[i] = e.getValue()[i] - before.get(e.getKey())[i];
                    }
                    double deltaErr = Numerics.relErr(dMine, dRef);
                    worst = Math.max(worst, err);
                    if (!lossIgnores(e.getKey())) worstDelta = Math.max(worstDelta, deltaErr);
                    assertTrue(err < TOL, "seed " + seed + ": step " + step + " " + e.getKey() + " rel err " + err);
                    // a gradient that is rounding noise moves Adam's update by as much as the noise
                    assertTrue(deltaErr < 1e-3 || lossIgnores(e.getKey()), "seed " + seed + ": step " + step + " update of " + e.getKey()
                            + " rel err " + deltaErr);
                }
                System.out.printf("%s adamw step %d: grad norm %.6f vs libtorch %.6f, worst parameter rel err %.2e,"
                        + " worst update rel err %.2e%n", cfg.modelType(), step, oursNorm, refNorm, worst, worstDelta);
                before = after;
            }
        }
    }

    /** Forward and backward of both models on the same weights and batch; everything must agree. */
    private static void compare(String what, LlamaConfig cfg, TokenBatch b) {
        long seed = TestSeeds.next();
        compare(what, cfg, randomWeights(cfg, new Random(seed)), t -> new TorchLlama(cfg, t, 2), b, seed);
    }

    /**
     * Our model and {@code reference} on weights {@code w} (drawn from {@code seed}) and batch {@code b}:
     * parameter names, logits on non-padding rows, loss and every parameter gradient to relative error 1e-4.
     */
    static void compare(String what, ModelConfig cfg, Map<String, float[]> w,
                        Function<Map<String, Tensor>, TorchDecoder> reference, TokenBatch b, long seed) {
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel ours = DecoderModels.create(backend, cfg, tensors(arena, cfg, w));
             TorchDecoder ref = reference.apply(tensors(arena, cfg, w))) {
            assertEquals(ref.parameters().keySet(), ours.parameters().keySet(), what + ": parameter names");
            float lossOurs = ours.forward(b);
            float[] logitsOurs = ours.logits().toFloatArray();   // the backward overwrites them
            ours.backward();
            float lossRef = ref.forward(b);
            float[] logitsRef = ref.logits();
            ref.backward();

            double logitsErr = Numerics.relErr(nonPadRows(logitsOurs, b, cfg), nonPadRows(logitsRef, b, cfg));
            double lossErr = Math.abs(lossOurs - lossRef) / Math.abs(lossRef);
            String ctx = what + " (weights seed " + seed + ")";
            assertTrue(logitsErr < TOL, ctx + ": logits rel err " + logitsErr);
            assertTrue(lossErr < TOL, ctx + ": loss " + lossOurs + " vs libtorch " + lossRef);
            Map<String, float[]> oursGrads = new LinkedHashMap<>();
            ours.gradients().forEach((name, g) -> oursGrads.put(name, g.toFloatArray()));
            String worstName = assertGradientsMatch(oursGrads, ref.grads(), ctx);
            double worst = Numerics.relErr(oursGrads.get(worstName), ref.grads().get(worstName));
            System.out.printf("%s: loss %.6f vs libtorch %.6f, logits rel err %.2e, worst gradient rel err %.2e (%s)%n",
                    what, lossOurs, lossRef, logitsErr, worst, worstName);
        }
    }

    /**
     * Every gradient in {@code ours} against {@code reference} by relative error below 1e-4; returns the
     * name of the worst. A bias the loss does not depend on ({@link org.gpt4llm.testing.Numerics#lossIgnores}) has an exact gradient
     * of 0, so both sides are rounding noise: it is held to 1e-4 of the typical gradient norm instead.
     */
    static String assertGradientsMatch(Map<String, float[]> ours, Map<String, float[]> reference, String ctx) {
        double typical = 0;
        for (float[] g : reference.values()) typical += Math.sqrt(sumOfSquares(g)) / reference.size();
        double worst = -1;
        String worstName = "";
        for (var e : ours.entrySet()) {
            float[] want = reference.get(e.getKey());
            double err = Numerics.relErr(e.getValue(), want);
            if (lossIgnores(e.getKey())) {
                float[] diff = new float[want.length];
                for (int i = 0; i < diff.length; i++) diff[i] = e.getValue()[i] - want[i];
                double noise = Math.sqrt(sumOfSquares(diff)) / typical;
                assertTrue(noise < TOL, ctx + ": gradient of " + e.getKey() + " (exactly 0) differs by " + noise
                        + " of the typical gradient norm");
                continue;
            }
            assertTrue(err < TOL, ctx + ": gradient of " + e.getKey() + " rel err " + err);
            if (err > worst) {
                worst = err;
                worstName = e.getKey();
            }
        }
        return worstName;
    }

    private static double sumOfSquares(float[] x) {
        double s = 0;
        for (float v : x) s += (double) v * v;
        return s;
    }

    /** The logits rows [*, V] of real tokens (padding dropped), flattened. */
    static float[] nonPadRows(float[] logits, TokenBatch b, ModelConfig cfg) {
        return nonPadRows(logits, b, cfg.vocabSize());
    }

    /** The rows of a [B*T, width] array that hold real tokens, flattened. */
    static float[] nonPadRows(float[] x, TokenBatch b, int width) {
        int rows = 0;
        for (int s : b.segments()) if (s != 0) rows++;
        float[] out = new float[rows * width];
        int r = 0;
        for (int n = 0; n < b.size(); n++) {
            if (b.segments()[n] == 0) continue;
            System.arraycopy(x, n * width, out, r++ * width, width);
        }
        return out;
    }

    /** Matrices normal(0, 0.2), norm weights 1 + 0.1·N(0,1). */
    static Map<String, float[]> randomWeights(LlamaConfig cfg, Random rng) {
        Map<String, float[]> w = new LinkedHashMap<>();
        TorchLlama.expectedShapes(cfg).forEach((name, shape) -> {
            int n = (int) Tensor.numel(shape);
            float[] v = Numerics.normal(rng, n, shape.length == 1 ? 0.1f : 0.2f);
            if (shape.length == 1) for (int i = 0; i < n; i++) v[i] += 1f;
            w.put(name, v);
        });
        return w;
    }

    /** {@code w} as tensors of the shapes our model expects. */
    static Map<String, Tensor> tensors(Arena arena, ModelConfig cfg, Map<String, float[]> w) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        DecoderModels.parameterShapes(cfg).forEach((name, shape) -> out.put(name, Tensor.of(arena, w.get(name), shape)));
        return out;
    }

    /** {@link DecoderInputs#packed}. */
    static TokenBatch packed(int t, int[][] lengths, int vocab, Random rng) {
        return DecoderInputs.packed(t, lengths, vocab, rng);
    }
}
