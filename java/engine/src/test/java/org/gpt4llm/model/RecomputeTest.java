package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * {@link DecoderModel#setRecompute}: on {@code cpu} the gradients with recomputation are bit-identical
 * to those without, for full fine-tuning and LoRA (with dropout, whose masks the recomputation must
 * replay), LLaMA and OPT, packed rows and reward models; and the activations a forward keeps are fewer.
 */
class RecomputeTest {
    private static final LoraConfig LLAMA_LORA = new LoraConfig(4, 8f, 0.3f, LoraConfig.LLAMA_TARGETS);
    private static final LoraConfig OPT_LORA = new LoraConfig(3, 6f, 0.25f, List.of("q_proj", "out_proj", "fc1", "fc2"));

    /** The gradients of one forward and backward, and the activation bytes the forward kept. */
    private record Run(float loss, Map<String, float[]> grads, long activationBytes) {}

    @Test
    void llamaFullOnPackedRows() {
        same("llama full", TrainingFixtures.LLAMA, null);
    }

    @Test
    void llamaLoraWithDropout() {
        same("llama LoRA", TrainingFixtures.LLAMA, LLAMA_LORA);
    }

    @Test
    void optFull() {
        same("opt full", TrainingFixtures.OPT, null);
    }

    @Test
    void optLoraWithDropout() {
        same("opt LoRA", TrainingFixtures.OPT, OPT_LORA);
    }

    @Test
    void rewardModelFullAndLora() {
        for (LoraConfig lc : new LoraConfig[] {null, LLAMA_LORA}) {
            long seed = TestSeeds.next();
            Run plain = reward(seed, lc, false), recomputed = reward(seed, lc, true);
            assertSame("reward model " + (lc == null ? "full" : "LoRA") + " (seed " + seed + ")", plain, recomputed);
        }
    }

    private static void same(String what, ModelConfig cfg, LoraConfig lc) {
        long seed = TestSeeds.next();
        Run plain = decoder(cfg, seed, lc, false), recomputed = decoder(cfg, seed, lc, true);
        assertSame(what + " (seed " + seed + ")", plain, recomputed);
    }

    private static void assertSame(String what, Run plain, Run recomputed) {
        assertEquals(plain.loss(), recomputed.loss(), 0f, what + ": loss");
        assertEquals(plain.grads().keySet(), recomputed.grads().keySet(), what + ": the gradients");
        plain.grads().forEach((name, g) -> {
            boolean nonZero = false;
            for (float v : g) nonZero |= v != 0f;
            assertTrue(nonZero, what + ": gradient of " + name + " is zero");
            assertArrayEquals(g, recomputed.grads().get(name), what + ": gradient of " + name);
        });
        assertTrue(recomputed.activationBytes() < plain.activationBytes(), what + ": activation bytes "
                + recomputed.activationBytes() + " with recompute, " + plain.activationBytes() + " without");
    }

    private static Run decoder(ModelConfig cfg, long seed, LoraConfig lc, boolean recompute) {
        Random rng = new Random(seed);
        TokenBatch b = TrainingFixtures.packed(13, new int[][] {{13}, {6, 7}, {4, 5, 2}}, cfg.vocabSize(), rng);
        try (Backend be = new CpuBackend(2); DecoderModel m = DecoderModels.initRandom(be, cfg, seed)) {
            if (lc != null) {
                m.enableLora(lc, seed);
                TrainingFixtures.randomAdapters(be, m.trainableParameters(), seed);
                m.setDropoutSeed(seed * 31 + 7);
            }
            m.setRecompute(recompute);
            m.zeroGrad();
            float loss = m.forward(b);
            long activations = m.activationBytes();
            m.backward();
            return new Run(loss, download(be, m.trainableGradients()), activations);
        }
    }

    private static Run reward(long seed, LoraConfig lc, boolean recompute) {
        Random rng = new Random(seed);
        ModelConfig cfg = TrainingFixtures.LLAMA;
        int[][] rows = new int[5][];
        for (int i = 0; i < rows.length; i++) rows[i] = rng.ints(3 + rng.nextInt(8), 1, cfg.vocabSize()).toArray();
        TokenBatch tokens = TokenBatch.causalLm(rows, 0);
        int[] last = new int[rows.length];
        float[] dRewards = new float[rows.length];
        for (int i = 0; i < rows.length; i++) {
            last[i] = i * tokens.seqLen() + rows[i].length - 1;
            dRewards[i] = (float) rng.nextGaussian();
        }
        try (Backend be = new CpuBackend(2); RewardModel rm = RewardModel.initRandom(be, cfg, seed, 0)) {
            if (lc != null) {
                rm.enableLora(lc, seed);
                TrainingFixtures.randomAdapters(be, rm.backbone().trainableParameters(), seed);
                rm.backbone().setDropoutSeed(seed + 3);
            }
            rm.backbone().setRecompute(recompute);
            rm.zeroGrad();
            float[] r = rm.rewards(tokens, last);
            long activations = rm.backbone().activationBytes();
            rm.backward(dRewards);
            float sum = 0;
            for (float v : r) sum += v;
            return new Run(sum, download(be, rm.gradients()), activations);
        }
    }

    private static Map<String, float[]> download(Backend be, Map<String, org.gpt4llm.tensor.Tensor> grads) {
        Map<String, float[]> out = new LinkedHashMap<>();
        grads.forEach((name, g) -> out.put(name, be.download(g)));
        return out;
    }
}
