package org.gpt4llm.model;

import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.Tensor;

/** Tiny models and batches the gradient-buffer and recomputation tests share. */
final class TrainingFixtures {
    static final LlamaConfig LLAMA = LlamaConfig.builder().hiddenSize(32).intermediateSize(56).numLayers(3).numHeads(4)
            .numKvHeads(2).rmsNormEps(1e-5f).vocabSize(61).maxPositionEmbeddings(64).build();
    static final OptConfig OPT = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(3).numHeads(3)
            .vocabSize(53).tieWordEmbeddings(false).maxPositionEmbeddings(32).build();

    private TrainingFixtures() {}

    /**
     * Rows of {@code t} tokens holding packed sequences of the given lengths, then padding: positions
     * restart in each sequence, segments count 1, 2, …, each token predicts the next of its sequence.
     */
    static TokenBatch packed(int t, int[][] lengths, int vocab, Random rng) {
        int bsz = lengths.length, n = bsz * t;
        int[] tok = new int[n], tgt = new int[n], pos = new int[n], seg = new int[n];
        for (int r = 0; r < bsz; r++) {
            int j = 0;
            for (int s = 0; s < lengths[r].length; s++) {
                for (int k = 0; k < lengths[r][s]; k++, j++) {
                    tok[r * t + j] = rng.nextInt(vocab);
                    pos[r * t + j] = k;
                    seg[r * t + j] = s + 1;
                }
            }
            for (int k = 0; k < t; k++) {
                int i = r * t + k;
                tgt[i] = k + 1 < t && seg[i] != 0 && seg[i + 1] == seg[i] ? tok[i + 1] : TokenBatch.IGNORE;
            }
        }
        return new TokenBatch(bsz, t, tok, tgt, pos, seg);
    }

    /** Gives every adapter factor random values (B starts at zero, which would leave A without gradient). */
    static void randomAdapters(Backend be, Map<String, Tensor> adapters, long seed) {
        Random rng = new Random(seed);
        try (Arena host = Arena.ofConfined()) {
            adapters.forEach((name, t) -> {
                float[] v = new float[(int) t.numel()];
                for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextGaussian() * 0.2);
                be.upload(t, Tensor.of(host, v, t.shape()));
            });
        }
    }

    static long bytes(Map<String, Tensor> tensors, int bytesPerValue) {
        return tensors.values().stream().mapToLong(t -> t.numel() * bytesPerValue).sum();
    }
}
