package org.gpt4llm.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.backend.Backend;

/** The parameters of a {@link DecoderModel}: HF names and shapes, in checkpoint order. */
public final class DecoderLayout {
    /** Index of a block's first MLP layer among {@link ModelConfig#linearTargets}: q, k, v, o come first. */
    static final int MLP_TARGETS = 4;

    private static final Pattern LAYER = Pattern.compile("(?:^|\\.)layers\\.(\\d+)\\.");

    private DecoderLayout() {}

    /** The decoder layer a parameter belongs to (HF and PEFT names alike), -1 for the others (embeddings, final norm, head). */
    public static int layerOf(String name) {
        Matcher m = LAYER.matcher(name);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    /** The HF module name of linear layer {@code target} (index in {@link ModelConfig#linearTargets}) of a layer. */
    static String linearName(ModelConfig c, int layer, int target) {
        // block names: attention norm, q, k, v, o, MLP norm, MLP linears
        int block = target < MLP_TARGETS ? target + 1 : target + 2;
        return c.decoderPrefix() + "layers." + layer + "." + c.blockNames().get(block);
    }

    /** The attention shape of {@code b}'s rows, with the usual 1 / sqrt(head dim) scale. */
    static Backend.AttentionShape attentionShape(ModelConfig c, TokenBatch b) {
        return new Backend.AttentionShape(b.batch(), b.seqLen(), c.numHeads(), c.numKvHeads(), c.headDim(),
                (float) (1.0 / Math.sqrt(c.headDim())));
    }

    /** HF tensor names and shapes, without {@code lm_head.weight} when {@code withHead} is false. */
    static Map<String, long[]> parameterShapes(ModelConfig c, boolean withHead) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long h = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
        String d = c.decoderPrefix();
        List<String> names = c.blockNames();
        s.put(d + "embed_tokens.weight", new long[] {c.vocabSize(), h});
        if (c.learnedPositions()) {
            s.put(d + "embed_positions.weight", new long[] {c.maxPositionEmbeddings() + OptConfig.POSITION_OFFSET, h});
        }
        for (int l = 0; l < c.numLayers(); l++) {
            String p = d + "layers." + l + ".";
            putNorm(s, c, p + names.get(0));
            long[][] outIn = {{h, h}, {kv, h}, {kv, h}, {h, h}};
            for (int t = 0; t < MLP_TARGETS; t++) putLinear(s, c, linearName(c, l, t), outIn[t][0], outIn[t][1]);
            putNorm(s, c, p + names.get(MLP_TARGETS + 1));
            int mlp = c.linearTargets().size() - MLP_TARGETS; // gate, up, down or fc1, fc2: the last one projects back
            for (int i = 0; i < mlp; i++) {
                boolean down = i == mlp - 1;
                putLinear(s, c, linearName(c, l, MLP_TARGETS + i), down ? h : f, down ? f : h);
            }
        }
        putNorm(s, c, c.finalNormName());
        if (withHead && !c.tieWordEmbeddings()) s.put("lm_head.weight", new long[] {c.vocabSize(), h});
        return s;
    }

    private static void putNorm(Map<String, long[]> s, ModelConfig c, String name) {
        s.put(name + ".weight", new long[] {c.hiddenSize()});
        if (c.layerNorm()) s.put(name + ".bias", new long[] {c.hiddenSize()});
    }

    private static void putLinear(Map<String, long[]> s, ModelConfig c, String name, long out, long in) {
        s.put(name + ".weight", new long[] {out, in});
        if (c.linearBias()) s.put(name + ".bias", new long[] {out});
    }
}
