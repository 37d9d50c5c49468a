package org.gpt4llm.model;

import static org.gpt4llm.model.LlamaModelTest.packed;
import static org.gpt4llm.model.LlamaModelTest.tensors;
import static org.gpt4llm.testing.DecoderInputs.lastTokens;
import static org.gpt4llm.testing.DecoderInputs.optWeights;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchOpt;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * Our OPT against {@link TorchOpt} (libtorch ops and autograd, never our code) on fresh random weights
 * with biases and LayerNorm parameters far from their init: logits on non-padding rows, loss and every
 * parameter gradient to relative error below 1e-4 in fp32, three AdamW steps against libtorch's, and
 * the headless backbone's hidden states and the gradients of a reward-style read-out on them.
 */
class OptModelTest {
    private static final double TOL = 1e-4;
    /** head dim 8 over 3 heads, odd FFN and vocabulary, a short position table so rows reach its end. */
    private static final OptConfig UNTIED = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2)
            .numHeads(3).vocabSize(53).tieWordEmbeddings(false).maxPositionEmbeddings(32).build();
    private static final OptConfig TIED = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2)
            .numHeads(3).vocabSize(53).tieWordEmbeddings(true).maxPositionEmbeddings(32).build();

    @Test
    void rightPaddedRowsUpToTheLastPosition() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        // the longest row reads the position table's last row (position 31 → row 33)
        TokenBatch b = TokenBatch.causalLm(randomRows(rng, UNTIED.vocabSize(), 32, 17, 5), UNTIED.padTokenId());
        LlamaModelTest.compare("opt untied, right padding", UNTIED, optWeights(UNTIED, rng),
                t -> new TorchOpt(UNTIED, t, 2), b, seed);
    }

    @Test
    void packedRowsWithTiedHead() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        TokenBatch b = packed(13, new int[][] {{5, 6}, {4, 9}, {13}}, TIED.vocabSize(), rng);
        LlamaModelTest.compare("opt tied, packed", TIED, optWeights(TIED, rng), t -> new TorchOpt(TIED, t, 2), b, seed);
    }

    @Test
    void packedRowsWithUntiedHead() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        TokenBatch b = packed(11, new int[][] {{11}, {3, 2, 6}}, UNTIED.vocabSize(), rng);
        LlamaModelTest.compare("opt untied, packed", UNTIED, optWeights(UNTIED, rng), t -> new TorchOpt(UNTIED, t, 2), b, seed);
    }

    @Test
    void threeAdamWStepsMatchLibtorch() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        LlamaModelTest.adamWStepsMatch(UNTIED, optWeights(UNTIED, rng), t -> new TorchOpt(UNTIED, t, 2),
                () -> packed(13, new int[][] {{13}, {6, 7}, {10}}, UNTIED.vocabSize(), rng), seed);
    }

    /**
     * The reward model's read-out: s = Σ over each sequence's last token of h·v on the headless model's
     * hidden states h, back-propagated through {@link DecoderModel#backwardHidden} (d s / d h is v on those
     * rows, 0 elsewhere) and through libtorch autograd from {@link TorchOpt#hidden()}.
     */
    @Test
    void headlessBackboneMatchesLibtorchHiddenStates() {
        for (OptConfig cfg : new OptConfig[] {UNTIED, TIED}) {
            long seed = TestSeeds.next();
            Random rng = new Random(seed);
            Map<String, float[]> w = optWeights(cfg, rng);
            TokenBatch b = packed(12, new int[][] {{7, 5}, {9}, {3, 4}}, cfg.vocabSize(), rng);
            int c = cfg.hiddenSize();
            int[] last = lastTokens(b);
            float[] v = Numerics.normal(rng, c, 1f);
            String ctx = "tied=" + cfg.tieWordEmbeddings() + " (seed " + seed + ")";
            try (Arena arena = Arena.ofConfined();
                 CpuBackend backend = new CpuBackend(2);
                 DecoderModel ours = DecoderModels.createHeadless(backend, cfg, tensors(arena, cfg, w), "test weights");
                 TorchOpt ref = new TorchOpt(cfg, tensors(arena, cfg, w), 2)) {
                assertTrue(!ours.parameters().containsKey("lm_head.weight"), ctx + ": a headless model has no lm_head");
                float[] hidden = ours.forwardHidden(b).toFloatArray();
                float[] dHidden = new float[b.size() * c];
                double s = 0;
                for (int row : last) {
                    for (int j = 0; j < c; j++) {
                        s += (double) hidden[row * c + j] * v[j];
                        dHidden[row * c + j] = v[j];
                    }
                }
                ours.backwardHidden(Tensor.of(arena, dHidden, b.size(), c));

                ref.forward(b);
                float sRef;
                float[] hiddenRef;
                try (PointerScope scope = new PointerScope()) {
                    org.bytedeco.pytorch.Tensor h = ref.hidden().reshape(b.size(), c);
                    hiddenRef = Torch.toFloats(h.detach());
                    org.bytedeco.pytorch.Tensor sum = h.index_select(0, Torch.longs(last, last.length))
                            .matmul(Torch.floats(v, c)).sum();
                    sRef = sum.item_float();
                    ref.backward(sum);
                }
                double hiddenErr = Numerics.relErr(LlamaModelTest.nonPadRows(hidden, b, c),
                        LlamaModelTest.nonPadRows(hiddenRef, b, c));
                assertTrue(hiddenErr < TOL, ctx + ": hidden states rel err " + hiddenErr);
                assertEquals(sRef, s, TOL * Math.abs(sRef), ctx + ": read-out");
                Map<String, float[]> gradsRef = ref.grads(), oursGrads = new LinkedHashMap<>();
                ours.gradients().forEach((name, g) -> oursGrads.put(name, g.toFloatArray()));
                String worstName = LlamaModelTest.assertGradientsMatch(oursGrads, gradsRef, ctx);
                double worst = Numerics.relErr(oursGrads.get(worstName), gradsRef.get(worstName));
                System.out.printf("opt headless %s: hidden rel err %.2e, read-out %.6f vs libtorch %.6f, worst gradient"
                        + " rel err %.2e (%s)%n", ctx, hiddenErr, s, sRef, worst, worstName);
            }
        }
    }

    @Test
    void positionBeyondTheTableIsOneClearError() {
        Random rng = new Random(TestSeeds.next());
        TokenBatch tooLong = TokenBatch.causalLm(randomRows(rng, TIED.vocabSize(), 33, 4), TIED.padTokenId());
        try (CpuBackend backend = new CpuBackend(2); DecoderModel m = DecoderModels.initRandom(backend, TIED, 1)) {
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(tooLong));
            assertEquals("position 32 is beyond max_position_embeddings 32 of this opt model: use a shorter --max-len",
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forwardHidden(tooLong));
            assertTrue(e.getMessage().contains("max_position_embeddings 32"), e.getMessage());
        }
    }

    /** Rows of random tokens with the given lengths. */
    static int[][] randomRows(Random rng, int vocab, int... lengths) {
        int[][] rows = new int[lengths.length][];
        for (int i = 0; i < rows.length; i++) rows[i] = rng.ints(lengths[i], 0, vocab).toArray();
        return rows;
    }
}
