package org.gpt4llm.gguf;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.datagen.files.TempFiles;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;

/**
 * A llama.cpp GGUF LLaMA model as an HF checkpoint: the config from the {@code llama.*} metadata,
 * the weights under HF names in HF's rotary row order, and the SentencePiece vocabulary as
 * {@code tokenizer.json}. Everything is checked before anything is written.
 *
 * <pre>
 *   token_embd            → model.embed_tokens            blk.N.attn_norm   → model.layers.N.input_layernorm
 *   blk.N.attn_q / attn_k → self_attn.q_proj / k_proj     (rows reordered, see RotaryLayout)
 *   blk.N.attn_v          → self_attn.v_proj              blk.N.attn_output → self_attn.o_proj
 *   blk.N.ffn_norm        → post_attention_layernorm      blk.N.ffn_gate / ffn_up / ffn_down → mlp.gate_proj / up_proj / down_proj
 *   output_norm           → model.norm                    output            → lm_head (absent: tied to the embeddings)
 * </pre>
 */
public record GgufLlama(Path source, LlamaConfig config, LinkedHashMap<String, Tensor> weights, ObjectNode tokenizerJson,
                        ObjectNode tokenizerConfig) {
    private static final String ARCH = "llama";
    private static final Map<String, String> BLOCK = Map.of(
            "input_layernorm", "attn_norm", "self_attn.q_proj", "attn_q", "self_attn.k_proj", "attn_k",
            "self_attn.v_proj", "attn_v", "self_attn.o_proj", "attn_output", "post_attention_layernorm", "ffn_norm",
            "mlp.gate_proj", "ffn_gate", "mlp.up_proj", "ffn_up", "mlp.down_proj", "ffn_down");
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)\\.weight");
    private static final Pattern SHARD = Pattern.compile("model-\\d{5,}-of-\\d{5,}\\.safetensors");
    /** The tag of the staging folders of imports. */
    private static final String WRITER = "import-gguf";

    /**
     * Reads the GGUF LLaMA {@code file} and writes it to {@code out} as an HF folder ({@link #save});
     * returns its configuration. A file that is missing, not GGUF or not a LLaMA of F32/F16/BF16
     * tensors throws one sentence naming it.
     */
    public static LlamaConfig convert(Path file, Path out) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            GgufLlama model = read(GgufFile.open(file, arena), arena);
            try {
                model.save(out);
            } catch (IOException e) {
                throw FileErrors.about("write", out, e); // the folder the user named, not the staging folder beside it
            } catch (CheckpointException e) {
                throw CheckpointException.writing(out, e);
            }
            return model.config();
        }
    }

    /**
     * Reads the model in {@code g}: F32 weights stay views of its mapping, converted and reordered
     * ones are allocated in {@code arena}. Anything this importer cannot represent faithfully (another
     * architecture or tokenizer, quantised tensors, rope scaling, unknown tensors) is one
     * {@link CheckpointException} naming the file and what is wrong.
     */
    public static GgufLlama read(GgufFile g, Arena arena) {
        Path file = g.file();
        String arch = g.string("general.architecture");
        if (arch == null) throw new CheckpointException(file + ": has no general.architecture, so its model cannot be known");
        if (!arch.equals(ARCH)) {
            throw new CheckpointException(file + ": architecture \"" + arch + "\" is not supported; only LLaMA models"
                    + " (general.architecture = llama) can be imported");
        }
        if (g.integer("llama.expert_count", 0) > 0) {
            throw new CheckpointException(file + ": is a mixture-of-experts model (llama.expert_count = "
                    + g.integer("llama.expert_count", 0) + "), which cannot be imported");
        }
        String scaling = g.string("llama.rope.scaling.type");
        if ((scaling != null && !scaling.equals("none")) || g.real("llama.rope.scale_linear", 1.0) != 1.0
                || g.tensors().containsKey("rope_freqs.weight")) {
            throw new CheckpointException(file + ": uses rotary scaling (" + (scaling != null ? "llama.rope.scaling.type = "
                    + scaling : "rope_freqs / scale_linear") + "), which the LLaMA model here does not implement");
        }
        SentencePieceJson.Vocabulary vocab = vocabulary(g);
        LlamaConfig cfg = config(g, vocab);
        LinkedHashMap<String, Tensor> weights = weights(g, cfg, arena);
        int pad = (int) Math.min(Integer.MAX_VALUE, g.integer("tokenizer.ggml.padding_token_id", -1));
        ObjectNode tokenizer;
        try {
            tokenizer = SentencePieceJson.tokenizerJson(vocab);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file + ": its vocabulary cannot be converted: " + e.getMessage(), e);
        }
        return new GgufLlama(file, cfg, weights, tokenizer,
                SentencePieceJson.tokenizerConfig(vocab, pad, cfg.maxPositionEmbeddings()));
    }

    /** The SentencePiece vocabulary of tokenizer.ggml.*; other tokenizer models are an error naming them. */
    private static SentencePieceJson.Vocabulary vocabulary(GgufFile g) {
        Path file = g.file();
        String model = g.string("tokenizer.ggml.model");
        if (model == null) throw new CheckpointException(file + ": has no tokenizer (tokenizer.ggml.model is missing)");
        if (!model.equals("llama")) {
            throw new CheckpointException(file + ": its tokenizer is \"" + model + "\"; only LLaMA's SentencePiece"
                    + " tokenizer (tokenizer.ggml.model = llama) can be imported");
        }
        List<String> tokens = g.array("tokenizer.ggml.tokens", String.class);
        if (tokens == null || tokens.isEmpty()) throw new CheckpointException(file + ": has no tokenizer.ggml.tokens");
        int n = tokens.size();
        List<Float> scoreList = g.array("tokenizer.ggml.scores", Float.class);
        List<Long> typeList = g.array("tokenizer.ggml.token_type", Long.class);
        if ((scoreList != null && scoreList.size() != n) || (typeList != null && typeList.size() != n)) {
            throw new CheckpointException(file + ": has " + n + " tokens but " + (scoreList == null ? "-" : scoreList.size())
                    + " scores and " + (typeList == null ? "-" : typeList.size()) + " token types");
        }
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            scores[i] = scoreList == null ? 0f : scoreList.get(i); // absent: all pieces equally likely (GGUF spec)
            types[i] = typeList == null ? SentencePieceJson.NORMAL : (int) (long) typeList.get(i);
        }
        int unk = specialId(g, "tokenizer.ggml.unknown_token_id", Math.max(0, tokens.indexOf("<unk>")), n);
        int bos = specialId(g, "tokenizer.ggml.bos_token_id", 1, n);
        int eos = specialId(g, "tokenizer.ggml.eos_token_id", 2, n);
        Object addBos = g.metadata().getOrDefault("tokenizer.ggml.add_bos_token", true);
        Object addEos = g.metadata().getOrDefault("tokenizer.ggml.add_eos_token", false);
        return new SentencePieceJson.Vocabulary(tokens, scores, types, unk, bos, eos,
                Boolean.TRUE.equals(addBos), Boolean.TRUE.equals(addEos));
    }

    private static int specialId(GgufFile g, String key, int fallback, int vocab) {
        long id = g.integer(key, fallback);
        if (id < 0 || id >= vocab) {
            throw new CheckpointException(g.file() + ": " + key + " is " + id + ", outside the vocabulary of " + vocab + " tokens");
        }
        return (int) id;
    }

    /** The network's shape from the llama.* keys, the vocabulary's size and whether there is an output matrix. */
    private static LlamaConfig config(GgufFile g, SentencePieceJson.Vocabulary vocab) {
        int hidden = g.requiredCount("llama.embedding_length");
        int heads = g.requiredCount("llama.attention.head_count");
        if (!g.metadata().containsKey("llama.attention.layer_norm_rms_epsilon")) {
            throw new CheckpointException(g.file() + ": metadata key llama.attention.layer_norm_rms_epsilon is missing");
        }
        try {
            LlamaConfig cfg = LlamaConfig.builder()
                    .hiddenSize(hidden)
                    .intermediateSize(g.requiredCount("llama.feed_forward_length"))
                    .numLayers(g.requiredCount("llama.block_count"))
                    .numHeads(heads)
                    .numKvHeads(g.count("llama.attention.head_count_kv", heads))
                    .rmsNormEps((float) g.real("llama.attention.layer_norm_rms_epsilon", 0))
                    .ropeTheta((float) g.real("llama.rope.freq_base", 10000.0))
                    .vocabSize(vocab.pieces().size())
                    .tieWordEmbeddings(!g.tensors().containsKey("output.weight"))
                    .maxPositionEmbeddings(g.count("llama.context_length", 2048))
                    .bosTokenId(vocab.bosId())
                    .eosTokenId(vocab.eosId())
                    .build();
            int rotary = g.count("llama.rope.dimension_count", cfg.headDim());
            if (rotary != cfg.headDim()) {
                throw new CheckpointException(g.file() + ": rotates " + rotary + " of each head's " + cfg.headDim()
                        + " dimensions (llama.rope.dimension_count); only full rotary embeddings are supported");
            }
            return cfg;
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(g.file() + ": its llama.* metadata does not describe a valid model: " + e.getMessage(), e);
        }
    }

    /** Every tensor the config needs, in checkpoint order, with Q and K back in HF's rotary order; no others allowed. */
    private static LinkedHashMap<String, Tensor> weights(GgufFile g, LlamaConfig cfg, Arena arena) {
        Path file = g.file();
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Set<String> used = new HashSet<>();
        for (Map.Entry<String, long[]> e : DecoderModels.parameterShapes(cfg).entrySet()) {
            String hf = e.getKey(), name = ggufName(hf);
            GgufFile.TensorEntry t = g.tensors().get(name);
            if (t == null) throw new CheckpointException(file + ": has no tensor " + name + " (" + hf + ")");
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new CheckpointException(file + ": tensor " + name + " has shape " + Arrays.toString(t.shape())
                        + " (rows, columns) but the llama.* metadata and vocabulary need " + Arrays.toString(e.getValue()));
            }
            if (GgmlType.dtype(t.ggmlType()) == null) throw new CheckpointException(g.unsupportedType(t));
            used.add(name);
        }
        for (String name : g.tensors().keySet()) {
            if (!used.contains(name)) {
                throw new CheckpointException(file + ": tensor " + name + " is not part of a LLaMA model as this importer"
                        + " knows it, so the model cannot be converted faithfully");
            }
        }
        for (String hf : DecoderModels.parameterShapes(cfg).keySet()) {
            Tensor w = g.toF32(ggufName(hf), arena);
            if (hf.endsWith("self_attn.q_proj.weight")) w = RotaryLayout.toHf(w, cfg.numHeads(), arena);
            if (hf.endsWith("self_attn.k_proj.weight")) w = RotaryLayout.toHf(w, cfg.numKvHeads(), arena);
            out.put(hf, w);
        }
        return out;
    }

    /** The GGUF name of an HF LLaMA tensor. */
    static String ggufName(String hf) {
        switch (hf) {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
            default:
        }
        Matcher m = LAYER.matcher(hf);
        if (!m.matches() || !BLOCK.containsKey(m.group(2))) throw new IllegalArgumentException("no GGUF name for " + hf);
        return "blk." + m.group(1) + "." + BLOCK.get(m.group(2)) + ".weight";
    }

    /**
     * Writes the HF folder {@code out}: everything goes to a staging folder next to it first
     * ({@code .OUT.import-gguf-PID-RANDOM.tmp}; one a killed import left is removed first), the
     * tokenizer is loaded back from there, and only then are the files moved into {@code out}
     * (renamed as a whole when {@code out} does not exist yet; otherwise file by file, config.json
     * last, and weight files of an earlier checkpoint there removed). A folder that cannot be written
     * is named as {@code out}, never as the staging folder.
     */
    public void save(Path out) throws IOException {
        Path target = out.toAbsolutePath().normalize();
        Path parent = target.getParent();
        Path staging;
        try {
            Files.createDirectories(parent);
            requireWritable(out, parent, target);
            TempFiles.removeStale(target, WRITER);
            staging = TempFiles.createDirectory(target, WRITER);
        } catch (FileSystemException e) {
            throw unwritable(out, target, e);
        }
        try {
            Checkpoint.save(staging, weights, DecoderModel.MAX_SHARD_BYTES);
            AtomicFiles.writeJson(staging.resolve("tokenizer.json"), tokenizerJson);
            AtomicFiles.writeJson(staging.resolve("tokenizer_config.json"), tokenizerConfig);
            try (HfTokenizer tok = Tokenizers.load(staging)) {
                if (tok.vocabSize() != config.vocabSize()) {
                    throw new CheckpointException(source + ": the converted tokenizer has " + tok.vocabSize()
                            + " tokens, not the " + config.vocabSize() + " of the model");
                }
            } catch (IOException e) {
                throw new CheckpointException(source + ": its vocabulary does not make a loadable tokenizer.json ("
                        + e.getMessage() + ")", e);
            }
            config.write(staging.resolve("config.json"));
            if (!Files.exists(target)) {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
                AtomicFiles.syncDirectory(parent);
                return;
            }
            moveInto(staging, target);
        } finally {
            TempFiles.deleteTree(staging);
        }
    }

    /** The staging folder goes into {@code parent}, the files into {@code target} when it exists: both must be writable. */
    private static void requireWritable(Path out, Path parent, Path target) throws AccessDeniedException {
        if (!Files.isWritable(parent)) throw new AccessDeniedException(parent.toString());
        if (Files.isDirectory(target) && !Files.isWritable(target)) throw new AccessDeniedException(target.toString());
    }

    /** {@code --out} cannot be written: named as the user gave it, never as the staging folder beside it. */
    private static CheckpointException unwritable(Path out, Path target, FileSystemException e) {
        String why = e instanceof AccessDeniedException ? "permission denied" : e.getReason() == null || e.getReason().isEmpty()
                ? e.getClass().getSimpleName() : e.getReason().substring(0, 1).toLowerCase(java.util.Locale.ROOT) + e.getReason().substring(1);
        Path file = e.getFile() == null ? target : Path.of(e.getFile()).toAbsolutePath().normalize();
        // the staging folder is ours, not the user's: name the folder it was to be made in
        if (!file.equals(target) && target.getParent().equals(file.getParent())) file = target.getParent();
        return new CheckpointException(out + ": cannot be written (" + why + (file.equals(target) ? "" : " in " + file) + ")", e);
    }

    /** Moves every file of {@code staging} into the existing {@code target}, config.json last, then drops stale weight files. */
    private static void moveInto(Path staging, Path target) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(staging)) {
            files = s.sorted(Comparator.comparing((Path p) -> p.getFileName().toString().equals("config.json"))).toList();
        }
        Set<String> written = new HashSet<>();
        for (Path f : files) {
            written.add(f.getFileName().toString());
            Files.move(f, target.resolve(f.getFileName()), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        try (Stream<Path> s = Files.list(target)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (!written.contains(n) && (n.equals(Checkpoint.INDEX) || n.equals(Checkpoint.SINGLE) || SHARD.matcher(n).matches())) {
                    Files.deleteIfExists(p);
                }
            }
        }
        AtomicFiles.syncDirectory(target);
    }
}
