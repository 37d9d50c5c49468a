package org.gpt4llm.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.contract.Target;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A LoRA forward and backward (with dropout) on each backend that runs the CUDA kernels (cuda-emu, and
 * cuda where a GPU is present), through {@link CudaBackend} and the LoRA kernels, against the fp32
 * {@code cpu} backend from the same bf16-representable weights and adapters. Both draw the dropout
 * mask from the same hash, so they drop the same elements; the tolerances are
 * {@link CudaBackendsLlamaStepTest}'s (bf16 rounding through two layers).
 */
class CudaBackendsLoraTest {
    private static final double LOSS_TOL = 1e-2, LOGITS_TOL = 3e-2, GRAD_TOL = 6e-2;

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void loraStepMatchesTheCpuBackend(Target target) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        LlamaConfig cfg = LlamaConfig.builder().hiddenSize(64).intermediateSize(112).numLayers(2).numHeads(2)
                .numKvHeads(1).rmsNormEps(1e-5f).vocabSize(83).maxPositionEmbeddings(256).build();
        LoraConfig lc = new LoraConfig(8, 16f, 0.2f, LoraConfig.LLAMA_TARGETS);
        CpuBackend cpu = new CpuBackend(2);
        try (Arena arena = Arena.ofShared();
             Backend dev = Backends.open(target.toString(), 2)) {
            Map<String, Tensor> weights = CudaBackendsLlamaStepTest.bf16Weights(arena, cfg, rng);
            int[][] rows = {rng.ints(17, 0, cfg.vocabSize()).toArray(), rng.ints(9, 0, cfg.vocabSize()).toArray()};
            TokenBatch batch = TokenBatch.causalLm(rows, 0);
            try (DecoderModel ref = DecoderModels.create(cpu, cfg, weights);
                 DecoderModel gpu = DecoderModels.create(dev, cfg, weights)) {
                ref.enableLora(lc, 1);
                gpu.enableLora(lc, 1);
                for (String name : ref.trainableParameters().keySet()) {
                    Tensor t = ref.trainableParameters().get(name);
                    Tensor bf = Tensor.allocate(arena, DType.BF16, t.shape());
                    cpu.convert(bf, Tensor.of(arena, Numerics.normal(rng, (int) t.numel(), 0.1f), t.shape()));
                    cpu.upload(t, bf);
                    dev.upload(gpu.trainableParameters().get(name), bf);
                }
                ref.setDropoutSeed(seed);
                gpu.setDropoutSeed(seed);
                float refLoss = ref.forward(batch), gpuLoss = gpu.forward(batch);
                Measurements.record(target.toString(), "lora step loss", Math.abs(gpuLoss - refLoss) / refLoss, LOSS_TOL);
                assertEquals(refLoss, gpuLoss, LOSS_TOL * refLoss, "seed " + seed + ": loss");
                double logitsErr = Numerics.relErr(dev.download(gpu.logits()), ref.logits().toFloatArray());
                Measurements.record(target.toString(), "lora step logits", logitsErr, LOGITS_TOL);
                assertTrue(logitsErr < LOGITS_TOL, "seed " + seed + ": logits rel err " + logitsErr);
                ref.backward();
                gpu.backward();
                double worst = 0;
                for (String name : ref.trainableGradients().keySet()) {
                    double e = Numerics.relErr(dev.download(gpu.trainableGradients().get(name)),
                            ref.trainableGradients().get(name).toFloatArray());
                    Measurements.record(target.toString(), "lora step adapter gradients", e, GRAD_TOL);
                    assertTrue(e < GRAD_TOL, "seed " + seed + ": gradient of " + name + " rel err " + e);
                    worst = Math.max(worst, e);
                }
                System.out.printf("%s LoRA vs cpu: loss %.6f vs %.6f, logits rel err %.2e, worst adapter gradient %.2e%n",
                        target, gpuLoss, refLoss, logitsErr, worst);
            }
        }
    }
}
