package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.data.RewardBatch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchDecoder;
import org.gpt4llm.reference.TorchLlama;
import org.gpt4llm.reference.TorchOpt;
import org.gpt4llm.reference.TorchPairwiseLoss;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.DecoderInputs;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.train.RewardTraining;
import org.junit.jupiter.api.Test;

/**
 * A reward model (backbone + value head read at each response's last token) trained with the pairwise
 * loss over all score-ordered pairs, against libtorch autograd: the backbone written with libtorch's
 * ops ({@link TorchOpt}, {@link TorchLlama}), the head and the loss ({@link TorchPairwiseLoss}) on
 * its hidden states. Rewards, loss and the gradient of every weight, head included, must agree.
 */
class RewardModelTest {
    private static final double TOL = 1e-4;
    private static final OptConfig OPT = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2)
            .numHeads(3).vocabSize(53).tieWordEmbeddings(true).maxPositionEmbeddings(32).build();
    private static final LlamaConfig LLAMA = LlamaConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(53).maxPositionEmbeddings(64).build();

    @Test
    void optRewardModelMatchesLibtorch() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            compare("opt, seed " + seed, OPT, LlamaModelTest.tensors(arena, OPT, DecoderInputs.optWeights(OPT, rng)), rng,
                    weights -> new TorchOpt(OPT, weights, 2));
        }
    }

    @Test
    void llamaRewardModelMatchesLibtorch() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            compare("llama, seed " + seed, LLAMA, LlamaModelTest.tensors(arena, LLAMA, LlamaModelTest.randomWeights(LLAMA, rng)),
                    rng, weights -> new TorchLlama(LLAMA, weights, 2));
        }
    }

    /**
     * LoRA on the backbone (dropout on, with the masks our kernels draw given to libtorch): the
     * adapters' and the head's gradients against libtorch's, and no other weight has one.
     */
    @Test
    void llamaLoraRewardModelMatchesLibtorch() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        LoraConfig lc = new LoraConfig(3, 6f, 0.2f, List.of("q_proj", "v_proj", "o_proj", "up_proj", "down_proj"));
        try (Arena arena = Arena.ofConfined()) {
            compare("llama LoRA, seed " + seed, LLAMA, LlamaModelTest.tensors(arena, LLAMA,
                    LlamaModelTest.randomWeights(LLAMA, rng)), rng, weights -> new TorchLlama(LLAMA, weights, 2), lc);
        }
    }

    private static void compare(String what, ModelConfig cfg, Map<String, Tensor> backbone, Random rng,
                                java.util.function.Function<Map<String, Tensor>, TorchDecoder> reference) {
        compare(what, cfg, backbone, rng, reference, null);
    }

    private static void compare(String what, ModelConfig cfg, Map<String, Tensor> backbone, Random rng,
                                java.util.function.Function<Map<String, Tensor>, TorchDecoder> reference, LoraConfig lc) {
        int c = cfg.hiddenSize();
        // three prompts with K = 3, 2 and 4 responses of different lengths; ties in the last one
        int[][] rows = new int[9][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = new int[3 + rng.nextInt(9)];
            for (int j = 0; j < rows[i].length; j++) rows[i][j] = rng.nextInt(cfg.vocabSize());
        }
        int[] offsets = {0, 3, 5, 9};
        float[] gold = {7f, 2f, 9f, 1f, 8f, 5f, 5f, 3f, 6f};
        TokenBatch tokens = TokenBatch.causalLm(rows, 0);
        int[] last = new int[rows.length];
        for (int i = 0; i < rows.length; i++) last[i] = i * tokens.seqLen() + rows[i].length - 1;
        int pairs = RewardPairs.count(gold, offsets, gold.length);
        RewardBatch batch = new RewardBatch(tokens, last, gold, offsets, pairs);
        float margin = 0.3f, center = 0.05f;
        float[] head = Numerics.normal(rng, c, 0.5f);

        try (Arena arena = Arena.ofConfined(); Backend be = Backends.open("cpu", 2)) {
            Map<String, Tensor> weights = new LinkedHashMap<>(backbone);
            weights.put(RewardModel.HEAD, Tensor.of(arena, head, 1, c));
            float oursLoss;
            float[] oursRewards;
            Map<String, float[]> oursGrads = new LinkedHashMap<>();
            Map<String, float[]> adapters = new LinkedHashMap<>();
            long stepSeed = rng.nextLong();
            try (RewardModel rm = RewardModel.fromWeights(be, cfg, weights, 0)) {
                if (lc != null) {
                    rm.enableLora(lc, 1);
                    rm.backbone().trainableParameters().forEach((name, t) -> {
                        float[] v = Numerics.normal(rng, (int) t.numel(), 0.2f);
                        be.upload(t, Tensor.of(arena, v, t.shape()));
                        adapters.put(name, v);
                    });
                }
                RewardTraining task = new RewardTraining(rm, null, margin, center);
                task.setDropoutSeed(stepSeed);
                task.zeroGrad();
                oursLoss = task.forward(batch);
                task.backward(1f / pairs);
                oursRewards = rm.rewards(tokens, last); // the same dropout seed: the same masks
                rm.gradients().forEach((name, g) -> oursGrads.put(name, be.download(g)));
            }

            try (TorchDecoder ref = reference.apply(backbone); PointerScope scope = new PointerScope()) {
                if (lc != null) {
                    TorchLlama llama = (TorchLlama) ref;
                    llama.enableLora(lc.rank(), lc.scale(), lc.targets(), adapters);
                    llama.setLoraMasks((layer, target, r, cols) -> LoraDropout.mask(LoraAdapters.dropoutSeed(stepSeed, layer,
                            LoraConfig.LLAMA_TARGETS.indexOf(target)), r, cols, lc.dropout()));
                }
                ref.forward(tokens);
                org.bytedeco.pytorch.Tensor v = Torch.floats(head, c);
                v.set_requires_grad(true);
                org.bytedeco.pytorch.Tensor rewards = ref.hidden().reshape(tokens.size(), c)
                        .index_select(0, Torch.longs(last, last.length)).matmul(v);
                float[] refRewards = Torch.toFloats(rewards.detach());
                org.bytedeco.pytorch.Tensor loss = TorchPairwiseLoss.loss(rewards, gold, offsets, margin, center);
                float refLoss = loss.item_float();
                ref.backward(loss);
                Map<String, float[]> refGrads = new LinkedHashMap<>(ref.grads());
                refGrads.put(RewardModel.HEAD, Torch.toFloats(v.grad()));

                assertTrue(Numerics.relErr(oursRewards, refRewards) < TOL, what + ": rewards");
                assertEquals(refLoss, oursLoss, TOL * Math.abs(refLoss), what + ": loss");
                LlamaModelTest.assertGradientsMatch(oursGrads, refGrads, what);
                List<String> trained = lc == null
                        ? refGrads.keySet().stream().filter(n -> !n.equals("lm_head.weight")).toList()
                        : java.util.stream.Stream.concat(adapters.keySet().stream(), java.util.stream.Stream.of(RewardModel.HEAD)).toList();
                assertEquals(trained.stream().sorted().toList(), oursGrads.keySet().stream().sorted().toList(),
                        what + ": the weights that get gradients");
            }
        }
    }
}
