package org.gpt4llm.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.contract.Target;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.DecoderInputs;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code --recompute} on each backend that runs the CUDA kernels (cuda-emu, and cuda where a GPU is
 * present): the gradients of one step with the layers recomputed in the backward against those of
 * the same step without, on the same backend: LLaMA with LoRA (dropout, whose masks the recomputation
 * replays) on packed rows, OPT in full, and a LoRA reward model. The recomputed activations are the
 * same kernels on the same inputs, so the gradients agree far inside {@link CudaBackendsLoraTest}'s
 * tolerance against the cpu backend; a stale or misaligned activation gives errors of order 1.
 * Also on the device: LoRA allocates the adapters' gradients only, and recomputation keeps fewer
 * activation bytes.
 */
class CudaBackendsRecomputeTest {
    private static final double GRAD_TOL = 6e-2;
    private static final LlamaConfig LLAMA = LlamaConfig.builder().hiddenSize(64).intermediateSize(112).numLayers(3)
            .numHeads(2).numKvHeads(1).rmsNormEps(1e-5f).vocabSize(83).maxPositionEmbeddings(64).build();
    private static final OptConfig OPT = OptConfig.builder().hiddenSize(64).intermediateSize(96).numLayers(3).numHeads(2)
            .vocabSize(71).tieWordEmbeddings(true).maxPositionEmbeddings(64).build();
    private static final LoraConfig LORA = new LoraConfig(8, 16f, 0.2f, LoraConfig.LLAMA_TARGETS);

    private record Run(Map<String, float[]> grads, long activationBytes, long gradientBytes, long adapterBytes) {}

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void llamaLoraOnPackedRows(Target t) {
        long seed = TestSeeds.next();
        Run plain = decoder(t, LLAMA, LORA, seed, false), recomputed = decoder(t, LLAMA, LORA, seed, true);
        assertEquals(plain.adapterBytes(), plain.gradientBytes(), "LoRA allocates the adapters' gradients only");
        compare(t, "llama LoRA (seed " + seed + ")", plain, recomputed);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void optFull(Target t) {
        long seed = TestSeeds.next();
        compare(t, "opt full (seed " + seed + ")", decoder(t, OPT, null, seed, false), decoder(t, OPT, null, seed, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void loraRewardModel(Target t) {
        long seed = TestSeeds.next();
        Run plain = reward(t, seed, false), recomputed = reward(t, seed, true);
        assertEquals(plain.adapterBytes() + 4L * LLAMA.hiddenSize(), plain.gradientBytes(),
                "a LoRA reward model allocates the adapters' and the head's gradients only");
        compare(t, "LoRA reward model (seed " + seed + ")", plain, recomputed);
    }

    private static void compare(Target t, String what, Run plain, Run recomputed) {
        assertEquals(plain.grads().keySet(), recomputed.grads().keySet(), what);
        double worst = 0;
        for (var e : plain.grads().entrySet()) {
            double err = Numerics.relErr(recomputed.grads().get(e.getKey()), e.getValue());
            Measurements.record(t.toString(), "recompute gradients", err, GRAD_TOL);
            assertTrue(err < GRAD_TOL, what + ": gradient of " + e.getKey() + " rel err " + err);
            worst = Math.max(worst, err);
        }
        assertTrue(recomputed.activationBytes() < plain.activationBytes(), what + ": activation bytes "
                + recomputed.activationBytes() + " with recompute, " + plain.activationBytes() + " without");
        System.out.printf("%s %s: recompute vs not, worst gradient rel err %.2e; activations %d -> %d bytes%n", t, what,
                worst, plain.activationBytes(), recomputed.activationBytes());
    }

    private static Run decoder(Target t, ModelConfig cfg, LoraConfig lc, long seed, boolean recompute) {
        Random rng = new Random(seed);
        TokenBatch b = DecoderInputs.packed(19, new int[][] {{19}, {7, 9}, {5, 6, 4}}, cfg.vocabSize(), rng);
        try (Backend dev = Backends.open(t.toString(), 2); DecoderModel m = DecoderModels.initRandom(dev, cfg, seed)) {
            long adapterBytes = 0;
            if (lc != null) {
                m.enableLora(lc, seed);
                adapterBytes = randomAdapters(dev, m.trainableParameters(), rng);
                m.setDropoutSeed(seed + 11);
            }
            m.setRecompute(recompute);
            m.zeroGrad();
            m.forward(b);
            long activations = m.activationBytes();
            m.backward();
            return new Run(download(dev, m.trainableGradients()), activations, m.gradientBytes(), adapterBytes);
        }
    }

    private static Run reward(Target t, long seed, boolean recompute) {
        Random rng = new Random(seed);
        int[][] rows = new int[5][];
        for (int i = 0; i < rows.length; i++) rows[i] = rng.ints(6 + rng.nextInt(14), 2, LLAMA.vocabSize()).toArray();
        TokenBatch tokens = TokenBatch.causalLm(rows, 1);
        int[] last = new int[rows.length];
        float[] dRewards = new float[rows.length];
        for (int i = 0; i < rows.length; i++) {
            last[i] = i * tokens.seqLen() + rows[i].length - 1;
            dRewards[i] = (float) rng.nextGaussian();
        }
        try (Backend dev = Backends.open(t.toString(), 2); RewardModel rm = RewardModel.initRandom(dev, LLAMA, seed, 1)) {
            rm.enableLora(LORA, seed);
            long adapterBytes = randomAdapters(dev, rm.backbone().trainableParameters(), rng);
            rm.backbone().setDropoutSeed(seed + 5);
            rm.backbone().setRecompute(recompute);
            rm.zeroGrad();
            rm.rewards(tokens, last);
            long activations = rm.backbone().activationBytes();
            rm.backward(dRewards);
            return new Run(download(dev, rm.gradients()), activations, rm.gradientBytes(), adapterBytes);
        }
    }

    /** Random adapter factors (B starts at zero), rounded to the device's type; returns the bytes their fp32 gradients take. */
    private static long randomAdapters(Backend dev, Map<String, Tensor> adapters, Random rng) {
        long bytes = 0;
        try (java.lang.foreign.Arena host = java.lang.foreign.Arena.ofConfined()) {
            for (Tensor a : adapters.values()) {
                dev.upload(a, Tensor.of(host, Numerics.normal(rng, (int) a.numel(), 0.2f), a.shape()));
                bytes += 4 * a.numel();
            }
        }
        return bytes;
    }

    private static Map<String, float[]> download(Backend dev, Map<String, Tensor> grads) {
        Map<String, float[]> out = new LinkedHashMap<>();
        grads.forEach((name, g) -> out.put(name, dev.download(g)));
        return out;
    }
}
