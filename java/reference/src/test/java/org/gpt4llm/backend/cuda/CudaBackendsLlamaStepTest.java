package org.gpt4llm.backend.cuda;

import static org.gpt4llm.testing.Numerics.lossIgnores;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.contract.Target;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A whole LLaMA training step on each backend that runs the CUDA kernels ({@link Target#cudaKinds}:
 * {@code cuda-emu}, the kernels in the emulation with GEMM on OpenBLAS, always; {@code cuda} on a GPU
 * with cuBLAS where one is present), bf16 weights and activations, against the fp32 {@code cpu}
 * backend started from the same bf16-representable weights.
 *
 * <p>Tolerances: bf16 keeps 8 significant bits (relative rounding 2^-9 ≈ 2e-3 per value). Every
 * activation of the cuda path is rounded once per op, about 15 roundings deep through two layers, so
 * logits differ by ~1% in relative norm and gradients (which go through the same chain backwards,
 * with bf16 intermediate gradients) by a few percent. A wrong kernel (a missing term, a wrong index,
 * a swapped operand) gives errors of order 1, far above these bounds.
 */
class CudaBackendsLlamaStepTest {
    static final double LOSS_TOL = 1e-2, LOGITS_TOL = 3e-2, GRAD_TOL = 6e-2, PARAM_TOL = 1e-2;

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void trainingStepMatchesTheCpuBackend(Target t) throws Exception {
        // head dim 64 takes the tensor-core attention; GQA with 2 query heads per kv head
        stepMatchesTheCpuBackend(t, LlamaConfig.builder().hiddenSize(128).intermediateSize(176).numLayers(2).numHeads(2)
                .numKvHeads(1).rmsNormEps(1e-5f).vocabSize(97).maxPositionEmbeddings(256).build(), name -> GRAD_TOL);
    }

    /**
     * Forward, backward and one clipped AdamW step of {@code cfg} on the cpu backend and on {@code t}
     * from the same bf16 weights, on right-padded rows: loss, logits, every gradient (to {@code gradTol}
     * of its name) and every parameter within the bounds above.
     */
    static void stepMatchesTheCpuBackend(Target t, ModelConfig cfg, ToDoubleFunction<String> gradTol) throws Exception {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        CpuBackend cpu = new CpuBackend(2);
        String on = cfg.modelType() + " step";
        try (Arena arena = Arena.ofShared();
             Backend dev = Backends.open(t.toString(), 2)) {
            Map<String, Tensor> weights = bf16Weights(arena, cfg, rng);
            int[][] rows = new int[3][];
            int[] lengths = {21, 9, 16};
            for (int i = 0; i < rows.length; i++) {
                rows[i] = rng.ints(lengths[i], 0, cfg.vocabSize()).toArray();
            }
            TokenBatch batch = TokenBatch.causalLm(rows, 0);
            try (DecoderModel ref = DecoderModels.create(cpu, cfg, weights);
                 DecoderModel gpu = DecoderModels.create(dev, cfg, weights)) {
                float refLoss = ref.forward(batch), gpuLoss = gpu.forward(batch);
                Measurements.record(t.toString(), on + " loss", Math.abs(gpuLoss - refLoss) / refLoss, LOSS_TOL);
                assertEquals(refLoss, gpuLoss, LOSS_TOL * refLoss, "seed " + seed + ": loss");
                float[] refLogits = ref.logits().toFloatArray(), gpuLogits = dev.download(gpu.logits());
                double logitsErr = Numerics.relErr(gpuLogits, refLogits);
                Measurements.record(t.toString(), on + " logits", logitsErr, LOGITS_TOL);
                assertTrue(logitsErr < LOGITS_TOL, "seed " + seed + ": logits rel err " + logitsErr);

                ref.backward();
                gpu.backward();
                double worst = 0, typical = 0;
                String worstName = "";
                for (Tensor g : ref.gradients().values()) typical += norm(g.toFloatArray()) / ref.gradients().size();
                for (String name : ref.gradients().keySet()) {
                    float[] mine = dev.download(gpu.gradients().get(name)), want = ref.gradients().get(name).toFloatArray();
                    if (lossIgnores(name)) { // exactly 0: both sides are rounding noise, small against the others
                        double noise = norm(difference(mine, want)) / typical;
                        assertTrue(noise < GRAD_TOL, "seed " + seed + ": gradient of " + name + " (exactly 0) differs by "
                                + noise + " of the typical gradient norm");
                        continue;
                    }
                    double e = Numerics.relErr(mine, want);
                    if (e > worst) {
                        worst = e;
                        worstName = name;
                    }
                    Measurements.record(t.toString(), on + " gradients", e, gradTol.applyAsDouble(name));
                    assertTrue(e < gradTol.applyAsDouble(name), "seed " + seed + ": gradient of " + name + " rel err " + e);
                }
                System.out.printf("%s %s vs cpu: loss %.6f vs %.6f, logits rel err %.2e, worst gradient %.2e (%s)%n",
                        cfg.modelType(), t, gpuLoss, refLoss, logitsErr, worst, worstName);

                // one AdamW step with clipping: the bf16 working copy follows the fp32 master
                Backend.AdamW hp = new Backend.AdamW(0.9f, 0.95f, 1e-8f, 0.1f);
                try (AdamWOptimizer refOpt = new AdamWOptimizer(cpu, ref.parameters(), ref.gradients(), hp);
                     AdamWOptimizer gpuOpt = new AdamWOptimizer(dev, gpu.parameters(), gpu.gradients(), hp)) {
                    double refNorm = refOpt.step(1e-3f, 0.5f), gpuNorm = gpuOpt.step(1e-3f, 0.5f);
                    Measurements.record(t.toString(), on + " gradient norm", Math.abs(gpuNorm - refNorm) / refNorm, GRAD_TOL);
                    assertEquals(refNorm, gpuNorm, GRAD_TOL * refNorm, "seed " + seed + ": grad norm");
                    for (String name : ref.parameters().keySet()) {
                        float[] mine = dev.download(gpu.parameters().get(name)), want = ref.parameters().get(name).toFloatArray();
                        if (lossIgnores(name)) {
                            // Adam moves an element by about lr whatever the sign of the noise: up to 2 lr apart, plus bf16 rounding
                            for (int i = 0; i < want.length; i++) {
                                assertEquals(want[i], mine[i], 2.02e-3 + Math.abs(want[i]) * 0x1p-8, "seed " + seed + ": parameter "
                                        + name + "[" + i + "] after a step");
                            }
                            continue;
                        }
                        double e = Numerics.relErr(mine, want);
                        Measurements.record(t.toString(), on + " parameters after AdamW", e, PARAM_TOL);
                        assertTrue(e < PARAM_TOL, "seed " + seed + ": parameter " + name + " after a step, rel err " + e);
                    }
                }
            }
        }
    }

    private static double norm(float[] x) {
        double s = 0;
        for (float v : x) s += (double) v * v;
        return Math.sqrt(s);
    }

    private static float[] difference(float[] a, float[] b) {
        float[] d = new float[a.length];
        for (int i = 0; i < d.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    /**
     * Random weights already rounded to bf16, so both backends start from identical values: matrices
     * N(0, 0.05²), norm weights uniform(0.8, 1.2), biases (OPT's linear and LayerNorm ones) N(0, 0.1²).
     */
    static Map<String, Tensor> bf16Weights(Arena arena, ModelConfig cfg, Random rng) {
        CpuBackend cpu = new CpuBackend(2);
        Map<String, Tensor> w = new LinkedHashMap<>();
        DecoderModels.parameterShapes(cfg).forEach((name, shape) -> {
            int n = (int) Tensor.numel(shape);
            float[] v = name.endsWith(".bias") ? Numerics.normal(rng, n, 0.1f)
                    : shape.length == 1 ? Numerics.uniform(rng, n, 0.8f, 1.2f) : Numerics.normal(rng, n, 0.05f);
            Tensor bf = Tensor.allocate(arena, DType.BF16, shape);
            cpu.convert(bf, Tensor.of(arena, v, shape));
            w.put(name, bf);
        });
        return w;
    }
}
