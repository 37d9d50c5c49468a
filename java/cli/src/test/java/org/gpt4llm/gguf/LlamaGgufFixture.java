package org.gpt4llm.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;

/** Random LLaMA checkpoints written as llama.cpp would: GGUF names, Q/K rows in llama.cpp's rotary order, a SentencePiece vocabulary. */
final class LlamaGgufFixture {
    /** A small SentencePiece-style vocabulary: specials, the 256 byte pieces, then pieces by falling score. */
    static final List<String> PIECES = new ArrayList<>();
    static final int FIRST_WORD_PIECE;

    static {
        PIECES.addAll(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) PIECES.add(String.format("<0x%02X>", b));
        FIRST_WORD_PIECE = PIECES.size();
        PIECES.addAll(List.of("\u2581", "e", "t", "h", "a", "c", "s", "o", "n", "i", "\u2581t", "he", "at", "\u2581the",
                "\u2581c", "\u2581s", "\u2581h", "on", "\u2581cat", "\u2581sat", "\u2581on", "\u2581hat", "in", "\u2581a"));
    }

    private LlamaGgufFixture() {
    }

    static LlamaConfig config(boolean tied) {
        return LlamaConfig.builder().hiddenSize(32).intermediateSize(48).numLayers(2).numHeads(4).numKvHeads(2)
                .rmsNormEps(1e-5f).ropeTheta(500000f).vocabSize(PIECES.size()).tieWordEmbeddings(tied)
                .maxPositionEmbeddings(256).build();
    }

    /** Random values (not HF's init: norms too are random) for every tensor of {@code cfg}, in HF names. */
    static LinkedHashMap<String, Tensor> randomWeights(LlamaConfig cfg, Random rng, Arena arena) {
        LinkedHashMap<String, Tensor> w = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : DecoderModels.parameterShapes(cfg).entrySet()) {
            int n = (int) Tensor.numel(e.getValue());
            w.put(e.getKey(), Tensor.of(arena, Numerics.normal(rng, n, 0.5f), e.getValue()));
        }
        return w;
    }

    /** A writer holding {@code hf} as llama.cpp stores it, in {@code ggmlType} (F32, F16 or BF16), with the llama.* and tokenizer keys. */
    static GgufWriter writer(String arch, LlamaConfig cfg, Map<String, Tensor> hf, int ggmlType, Arena arena) {
        GgufWriter g = new GgufWriter()
                .put("general.architecture", GgufWriter.STRING, arch)
                .put("general.name", GgufWriter.STRING, "fixture")
                .put(arch + ".context_length", GgufWriter.U32, cfg.maxPositionEmbeddings())
                .put(arch + ".embedding_length", GgufWriter.U32, cfg.hiddenSize())
                .put(arch + ".feed_forward_length", GgufWriter.U32, cfg.intermediateSize())
                .put(arch + ".block_count", GgufWriter.U32, cfg.numLayers())
                .put(arch + ".attention.head_count", GgufWriter.U32, cfg.numHeads())
                .put(arch + ".attention.head_count_kv", GgufWriter.U32, cfg.numKvHeads())
                .put(arch + ".rope.dimension_count", GgufWriter.U32, cfg.headDim())
                .put(arch + ".rope.freq_base", GgufWriter.F32, cfg.ropeTheta())
                .put(arch + ".attention.layer_norm_rms_epsilon", GgufWriter.F32, cfg.rmsNormEps())
                .put("tokenizer.ggml.model", GgufWriter.STRING, "llama")
                .put("tokenizer.ggml.tokens", GgufWriter.ARRAY, new GgufWriter.Array(GgufWriter.STRING, PIECES))
                .put("tokenizer.ggml.scores", GgufWriter.ARRAY, new GgufWriter.Array(GgufWriter.F32, scores()))
                .put("tokenizer.ggml.token_type", GgufWriter.ARRAY, new GgufWriter.Array(GgufWriter.I32, types()))
                .put("tokenizer.ggml.unknown_token_id", GgufWriter.U32, 0)
                .put("tokenizer.ggml.bos_token_id", GgufWriter.U32, cfg.bosTokenId())
                .put("tokenizer.ggml.eos_token_id", GgufWriter.U32, cfg.eosTokenId())
                .put("tokenizer.ggml.padding_token_id", GgufWriter.U32, 0xffffffffL);
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            Tensor t = e.getValue();
            if (e.getKey().endsWith("q_proj.weight")) t = RotaryLayout.toLlamaCpp(t, cfg.numHeads(), arena);
            if (e.getKey().endsWith("k_proj.weight")) t = RotaryLayout.toLlamaCpp(t, cfg.numKvHeads(), arena);
            long[] shape = t.shape(), ne = new long[shape.length];
            for (int i = 0; i < shape.length; i++) ne[i] = shape[shape.length - 1 - i];
            float[] v = t.toFloatArray();
            g.tensor(GgufLlama.ggufName(e.getKey()), ggmlType, ne, GgufWriter.encode(v, ggmlType));
        }
        return g;
    }

    static void write(Path file, LlamaConfig cfg, Map<String, Tensor> hf, int ggmlType, int version, int alignment,
                      Arena arena) throws IOException {
        GgufWriter g = writer("llama", cfg, hf, ggmlType, arena);
        if (alignment != GgufFile.DEFAULT_ALIGNMENT) g.put("general.alignment", GgufWriter.U32, alignment);
        g.write(file, version, alignment);
    }

    /** SentencePiece scores: 0 for specials and bytes, then -0, -1, -2, ... in piece order (the rank of the merge). */
    private static List<Float> scores() {
        List<Float> s = new ArrayList<>();
        for (int i = 0; i < PIECES.size(); i++) s.add(i < FIRST_WORD_PIECE ? 0f : -(float) (i - FIRST_WORD_PIECE));
        return s;
    }

    private static List<Integer> types() {
        List<Integer> t = new ArrayList<>();
        for (int i = 0; i < PIECES.size(); i++) {
            t.add(i == 0 ? SentencePieceJson.UNKNOWN : i < 3 ? SentencePieceJson.CONTROL
                    : i < FIRST_WORD_PIECE ? SentencePieceJson.BYTE : SentencePieceJson.NORMAL);
        }
        return t;
    }
}
