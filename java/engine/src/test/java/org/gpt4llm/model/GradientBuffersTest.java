package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * Gradient buffers exist only for what trains: none for a model that only runs forward, one per
 * parameter for full fine-tuning, only the adapters' for LoRA (plus the value head for a reward
 * model), and none for a parameter frozen by name; counted in bytes. Streamed to the host, the
 * layers' gradients take turns in two layers' buffers.
 */
class GradientBuffersTest {
    private static final LoraConfig LORA = new LoraConfig(4, 8f, 0.1f, List.of("q_proj", "v_proj", "down_proj"));

    @Test
    void aForwardOnlyModelHoldsNoGradient() {
        long seed = TestSeeds.next();
        try (Backend be = new CpuBackend(2); DecoderModel m = DecoderModels.initRandom(be, TrainingFixtures.LLAMA, seed)) {
            m.forward(batch(seed));
            assertEquals(0, m.gradientBytes(), "seed " + seed);
        }
    }

    @Test
    void fullFineTuningHasOneGradientPerParameter() {
        long seed = TestSeeds.next();
        try (Backend be = new CpuBackend(2); DecoderModel m = DecoderModels.initRandom(be, TrainingFixtures.LLAMA, seed)) {
            m.forward(batch(seed));
            m.backward();
            assertEquals(m.parameters().keySet(), m.gradients().keySet());
            assertEquals(4 * m.parameterCount(), m.gradientBytes(), "seed " + seed);
        }
    }

    @Test
    void loraAllocatesTheAdaptersGradientsOnly() {
        long seed = TestSeeds.next();
        try (Backend be = new CpuBackend(2); DecoderModel m = DecoderModels.initRandom(be, TrainingFixtures.LLAMA, seed)) {
            m.enableLora(LORA, seed);
            m.zeroGrad();
            m.forward(batch(seed));
            m.backward();
            assertTrue(m.gradients().isEmpty(), "a frozen base weight has a gradient: " + m.gradients().keySet());
            Map<String, Tensor> adapters = m.trainableParameters();
            assertEquals(adapters.keySet(), m.trainableGradients().keySet());
            assertEquals(2L * 3 * TrainingFixtures.LLAMA.numLayers(), adapters.size());
            assertEquals(TrainingFixtures.bytes(adapters, 4), m.gradientBytes(), "seed " + seed);
        }
    }

    @Test
    void aLoraRewardModelAllocatesTheAdaptersAndTheHead() {
        long seed = TestSeeds.next();
        ModelConfig cfg = TrainingFixtures.LLAMA;
        try (Backend be = new CpuBackend(2); RewardModel rm = RewardModel.initRandom(be, cfg, seed, 0)) {
            rm.enableLora(LORA, seed);
            TokenBatch tokens = batch(seed);
            int[] last = {tokens.seqLen() - 1, 2 * tokens.seqLen() - 1};
            rm.zeroGrad();
            rm.rewards(tokens, last);
            rm.backward(new float[] {1f, -1f});
            Set<String> expected = new HashSet<>(rm.backbone().trainableParameters().keySet());
            expected.add(RewardModel.HEAD);
            assertEquals(expected, rm.gradients().keySet());
            assertEquals(expected, rm.trainableParameters().keySet());
            long adapterBytes = TrainingFixtures.bytes(rm.backbone().trainableParameters(), 4);
            assertEquals(adapterBytes + 4L * cfg.hiddenSize(), rm.gradientBytes(), "seed " + seed);
        }
    }

    @Test
    void aFrozenParameterHasNoBufferAndTheOthersTheSameGradients() {
        long seed = TestSeeds.next();
        ModelConfig cfg = TrainingFixtures.OPT;
        TokenBatch b = TrainingFixtures.packed(11, new int[][] {{11}, {5, 6}}, cfg.vocabSize(), new Random(seed));
        String embed = cfg.decoderPrefix() + "embed_tokens.weight", fc1 = cfg.decoderPrefix() + "layers.1.fc1.weight";
        try (Backend be = new CpuBackend(2);
             DecoderModel all = DecoderModels.initRandom(be, cfg, seed);
             DecoderModel some = DecoderModels.initRandom(be, cfg, seed)) {
            some.freeze(List.of(embed, fc1));
            for (DecoderModel m : List.of(all, some)) {
                m.zeroGrad();
                m.forward(b);
                m.backward();
            }
            assertTrue(!some.gradients().containsKey(embed) && !some.gradients().containsKey(fc1));
            assertTrue(!some.trainableParameters().containsKey(embed) && !some.trainableParameters().containsKey(fc1));
            long frozenBytes = 4 * (all.parameters().get(embed).numel() + all.parameters().get(fc1).numel());
            assertEquals(all.gradientBytes() - frozenBytes, some.gradientBytes());
            some.gradients().forEach((name, g) -> assertArrayEquals(all.gradients().get(name).toFloatArray(),
                    g.toFloatArray(), "seed " + seed + ": gradient of " + name));
        }
    }

    /**
     * Streamed, the layers take turns in two buffers (layers 0 and 2 in one, layer 1 in the other) that a
     * listener empties after each layer's backward: what it takes is bit for bit the gradients of a model
     * keeping every buffer, LLaMA and OPT; a backward with nobody listening is refused.
     */
    @Test
    void streamedGradientsTakeTurnsInTwoLayersBuffers() {
        long seed = TestSeeds.next();
        for (ModelConfig cfg : List.of(TrainingFixtures.LLAMA, TrainingFixtures.OPT)) {
            TokenBatch b = TrainingFixtures.packed(11, new int[][] {{11}, {5, 6}}, cfg.vocabSize(), new Random(seed));
            String ctx = cfg.getClass().getSimpleName() + " seed " + seed;
            try (Backend be = new CpuBackend(2);
                 DecoderModel whole = DecoderModels.initRandom(be, cfg, seed);
                 DecoderModel streamed = DecoderModels.initRandom(be, cfg, seed)) {
                streamed.streamGradients(true);
                Map<String, Tensor> views = streamed.gradients();
                String q = "layers.%d." + cfg.blockNames().get(1) + ".weight";
                long[] addresses = new long[3];
                for (int l = 0; l < 3; l++) addresses[l] = views.get(cfg.decoderPrefix() + q.formatted(l)).data().address();
                assertEquals(addresses[0], addresses[2], "layers 0 and 2 share a buffer: " + ctx);
                assertTrue(addresses[0] != addresses[1], "layers 0 and 1 do not: " + ctx);
                assertTrue(streamed.gradientBytes() < 4 * streamed.parameterCount(), ctx);
                streamed.forward(b);
                IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                        streamed::backward);
                assertTrue(e.getMessage().contains("onGradientsDone"), e.getMessage());

                Map<String, float[]> taken = new java.util.HashMap<>();
                streamed.onGradientsDone(layer -> views.forEach((name, g) -> {
                    boolean inLayer = layer >= 0 ? name.contains(".layers." + layer + ".") : !name.contains(".layers.");
                    if (!inLayer) return;
                    taken.put(name, g.toFloatArray());
                    g.zero();
                }));
                for (DecoderModel m : List.of(whole, streamed)) {
                    m.zeroGrad();
                    m.forward(b);
                    m.backward();
                }
                assertEquals(whole.gradients().keySet(), taken.keySet(), ctx);
                whole.gradients().forEach((name, g) -> assertArrayEquals(g.toFloatArray(), taken.get(name),
                        ctx + ": gradient of " + name));
            }
        }
    }

    private static TokenBatch batch(long seed) {
        Random rng = new Random(seed);
        int v = TrainingFixtures.LLAMA.vocabSize();
        return TokenBatch.causalLm(new int[][] {rng.ints(9, 1, v).toArray(), rng.ints(9, 1, v).toArray()}, 0);
    }
}
