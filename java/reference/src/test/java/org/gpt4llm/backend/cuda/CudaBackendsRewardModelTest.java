package org.gpt4llm.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.backend.contract.Bf16;
import org.gpt4llm.backend.contract.Target;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.data.RewardBatch;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.train.RewardTraining;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One reward-model step (OPT backbone, value head, pairwise loss, backward) on the GPU path — each
 * backend that runs the CUDA kernels, bf16 storage: cuda-emu, and cuda where a GPU is present —
 * against the cpu backend in fp32, both from the same bf16-representable weights.
 *
 * <p>Tolerances: rewards and the gradients above the last ReLU (head, final norm, last fc2) agree to ~1%
 * as in {@link CudaBackendsLlamaStepTest}. Below a ReLU, a pre-activation whose fp32 and bf16 values
 * fall on opposite sides of 0 (those within the ~1% forward error of 0, about 1% of them) passes its
 * whole gradient on one side and none on the other: gradients there differ by about the square root of
 * that share, ~10%, up to 0.23 over 40 seeds. A wrong kernel gives errors of order 1.
 */
class CudaBackendsRewardModelTest {
    private static final double REWARD_TOL = 3e-2, LOSS_TOL = 2e-2, ABOVE_RELU_TOL = 3e-2, THROUGH_RELU_TOL = 0.4;

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void rewardModelStepMatchesTheCpuBackend(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        // head dim 64 takes the tensor-core attention
        OptConfig cfg = OptConfig.builder().hiddenSize(128).intermediateSize(176).numLayers(2).numHeads(2).vocabSize(97)
                .tieWordEmbeddings(true).maxPositionEmbeddings(64).build();
        int[][] rows = new int[5][];
        for (int i = 0; i < rows.length; i++) rows[i] = rng.ints(6 + rng.nextInt(20), 0, cfg.vocabSize()).toArray();
        TokenBatch tokens = TokenBatch.causalLm(rows, 1);
        int[] last = new int[rows.length];
        for (int i = 0; i < rows.length; i++) last[i] = i * tokens.seqLen() + rows[i].length - 1;
        float[] gold = {6f, 2f, 4f, 9f, 1f};
        int[] offsets = {0, 3, 5};
        RewardBatch batch = new RewardBatch(tokens, last, gold, offsets, RewardPairs.count(gold, offsets, gold.length));
        try (CpuBackend cpu = new CpuBackend(2); Backend dev = Backends.open(t.toString(), 2); Arena arena = Arena.ofConfined();
             RewardModel init = RewardModel.initRandom(cpu, cfg, seed, 1);
             RewardModel ref = RewardModel.fromWeights(cpu, cfg, bf16Representable(arena, init.parameters()), 1);
             RewardModel gpu = RewardModel.fromWeights(dev, cfg, ref.parameters(), 1)) {
            RewardTraining refTask = new RewardTraining(ref, null, 0.1f, 0.01f), gpuTask = new RewardTraining(gpu, null, 0.1f, 0.01f);
            refTask.zeroGrad();
            gpuTask.zeroGrad();
            float refLoss = refTask.forward(batch), gpuLoss = gpuTask.forward(batch);
            Measurements.record(t.toString(), "reward model pairwise loss", Math.abs(gpuLoss - refLoss) / refLoss, LOSS_TOL);
            assertEquals(refLoss, gpuLoss, LOSS_TOL * refLoss, "seed " + seed + ": loss");
            refTask.backward(1f / batch.pairs());
            gpuTask.backward(1f / batch.pairs());
            double rewardErr = Numerics.relErr(gpu.rewards(tokens, last), ref.rewards(tokens, last));
            Measurements.record(t.toString(), "reward model rewards", rewardErr, REWARD_TOL);
            assertTrue(rewardErr < REWARD_TOL, "seed " + seed + ": rewards rel err " + rewardErr);
            // not the final norm's bias: its gradient is Σ_m dr_m · head, and Σ_m dr_m cancels to ~0 (each pair
            // adds +g and -g), so bf16 rounding of dr dominates it
            checkGradients(t, seed, dev, gpu, cpu, ref, ABOVE_RELU_TOL, RewardModel.HEAD, "model.decoder.final_layer_norm.weight",
                    "model.decoder.layers.1.fc2.weight");
            checkGradients(t, seed, dev, gpu, cpu, ref, THROUGH_RELU_TOL, "model.decoder.layers.0.self_attn.q_proj.weight",
                    "model.decoder.layers.0.fc1.bias", "model.decoder.embed_positions.weight");
        }
    }

    private static void checkGradients(Target t, long seed, Backend dev, RewardModel gpu, CpuBackend cpu, RewardModel ref,
                                       double tol, String... names) {
        for (String name : names) {
            double e = Numerics.relErr(dev.download(gpu.gradients().get(name)), cpu.download(ref.gradients().get(name)));
            Measurements.record(t.toString(), "reward model gradients", e, tol);
            assertTrue(e < tol, "seed " + seed + ": gradient of " + name + " rel err " + e);
        }
    }

    /** fp32 copies of {@code weights} rounded to bf16 ({@link Bf16#round}), so both sides start from the same numbers. */
    private static Map<String, Tensor> bf16Representable(Arena arena, Map<String, Tensor> weights) {
        Map<String, Tensor> rounded = new LinkedHashMap<>();
        weights.forEach((name, w) -> rounded.put(name, Tensor.of(arena, Bf16.round(w.toFloatArray()), w.shape())));
        return rounded;
    }
}
