package org.gpt4llm.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * {@link TorchLlama.Decoding} (a KV cache grown by torch.cat) against {@link TorchLlama#forward} of
 * the whole sequence so far, on fresh random weights: after the prefill and each step, every row's
 * logits at its last token agree to fp32 rounding (the same ops, only the score matrices' shapes
 * differ; below {@value #TOL} relative error, a wrong position or cache row gives order 1).
 */
class TorchLlamaDecodingTest {
    static final double TOL = 1e-5;
    private static final LlamaConfig GQA = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(97).maxPositionEmbeddings(128).build();

    @Test
    void decodingMatchesTheFullForward() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            TorchLlama.expectedShapes(GQA).forEach((name, shape) -> {
                float[] v = Numerics.normal(rng, (int) Tensor.numel(shape), shape.length == 1 ? 0.1f : 0.2f);
                if (shape.length == 1) for (int i = 0; i < v.length; i++) v[i] += 1f;
                w.put(name, Tensor.of(arena, v, shape));
            });
            try (TorchLlama llama = new TorchLlama(GQA, w, 1); TorchLlama.Decoding dec = llama.openDecoding()) {
                assertThrows(IllegalStateException.class, () -> dec.step(new int[] {1, 2}));
                int[][] rows = new int[2][];
                for (int r = 0; r < rows.length; r++) rows[r] = rng.ints(9, 0, GQA.vocabSize()).toArray();
                float[][] logits = dec.prefill(rows);
                double worst = 0;
                for (int step = 0; step <= 4; step++) {
                    assertEquals(rows[0].length, dec.length());
                    llama.forward(TokenBatch.causalLm(rows, 0));
                    float[] all = llama.logits();
                    int t = rows[0].length, v = GQA.vocabSize();
                    for (int r = 0; r < rows.length; r++) {
                        float[] ref = Arrays.copyOfRange(all, (r * t + t - 1) * v, (r * t + t) * v);
                        double err = Numerics.relErr(logits[r], ref);
                        worst = Math.max(worst, err);
                        assertTrue(err < TOL, "seed " + seed + ", step " + step + ", row " + r + ": logits relative error " + err);
                    }
                    if (step == 4) break;
                    int[] next = rng.ints(rows.length, 0, GQA.vocabSize()).toArray();
                    for (int r = 0; r < rows.length; r++) {
                        rows[r] = Arrays.copyOf(rows[r], t + 1);
                        rows[r][t] = next[r];
                    }
                    logits = dec.step(next);
                }
                System.out.printf("libtorch KV-cache decoding vs full forward: max logits relative error %.3e%n", worst);
            }
        }
    }
}
