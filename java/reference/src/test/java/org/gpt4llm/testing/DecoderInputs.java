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

    /**
     * k_proj's bias adds q·b to every score of a query alike, and softmax ignores a shift shared by all
     * keys: the loss does not depend on it, and its gradient is 0 up to rounding, so no relative error
     * of it means anything.
     */
    public static boolean lossIgnores(String parameter) {
        return parameter.endsWith("k_proj.bias");
    }
}
