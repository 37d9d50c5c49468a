package org.gpt4llm.testing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.reference.TorchOpt;
import org.gpt4llm.tensor.Tensor;

/** Random decoder weights and batch read-outs shared by the model and reference tests. */
public final class DecoderInputs {
    private DecoderInputs() {}

    /**
     * OPT weights far from their init: matrices and embeddings N(0, 0.3²), biases N(0, 0.2²),
     * LayerNorm weights 1 + N(0, 0.3²), so that a mixed-up bias or norm parameter shows.
     */
    public static Map<String, float[]> optWeights(OptConfig cfg, Random rng) {
        Map<String, float[]> w = new LinkedHashMap<>();
        for (var e : TorchOpt.expectedShapes(cfg).entrySet()) {
            int n = (int) Tensor.numel(e.getValue());
            boolean vector = e.getValue().length == 1;
            float[] v = Numerics.normal(rng, n, vector ? 0.2f : 0.3f);
            if (e.getKey().endsWith("layer_norm.weight")) for (int i = 0; i < n; i++) v[i] = 1f + 1.5f * v[i];
            w.put(e.getKey(), v);
        }
        return w;
    }

    /**
     * Rows of {@code t} tokens holding packed sequences of the given lengths, padding after them:
     * positions restart at 0 in each sequence, segments count 1, 2, … and each token predicts the
     * next one of its own sequence.
     */
    public static TokenBatch packed(int t, int[][] lengths, int vocab, Random rng) {
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
            if (j > t) throw new IllegalArgumentException("sequences longer than the row");
            for (int k = 0; k < t; k++) {
                int i = r * t + k;
                tgt[i] = k + 1 < t && seg[i] != 0 && seg[i + 1] == seg[i] ? tok[i + 1] : TokenBatch.IGNORE;
            }
        }
        return new TokenBatch(bsz, t, tok, tgt, pos, seg);
    }

    /** Batch indices of the last token of every sequence (each packed segment of each row): where a reward is read. */
    public static int[] lastTokens(TokenBatch b) {
        List<Integer> last = new ArrayList<>();
        int t = b.seqLen();
        for (int i = 0; i < b.size(); i++) {
            int seg = b.segments()[i];
            boolean end = (i + 1) % t == 0 || b.segments()[i + 1] != seg;
            if (seg != 0 && end) last.add(i);
        }
        return last.stream().mapToInt(Integer::intValue).toArray();
    }
}
