package org.gpt4llm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The fields of an HF {@code OPTForCausalLM} {@code config.json} that define the network: pre-LayerNorm
 * blocks ({@code do_layer_norm_before}), learned positions offset by {@link #POSITION_OFFSET}, ReLU MLP,
 * biases on every linear layer, a final LayerNorm and a head tied to the embeddings. The variants
 * this engine does not run (OPT-350m's post-norm and projected embeddings) are refused by name.
 */
public record OptConfig(
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int vocabSize,
        boolean tieWordEmbeddings,
        int maxPositionEmbeddings,
        int bosTokenId,
        int eosTokenId,
        int padTokenId) implements ModelConfig {

    /** OPT's position table has two extra rows: position p reads row p + 2 (fairseq's padding offset). */
    public static final int POSITION_OFFSET = 2;
    /** OPT's LayerNorms are torch's default. */
    public static final float LAYER_NORM_EPS = 1e-5f;

    private static final List<String> BLOCK_NAMES = List.of("self_attn_layer_norm", "self_attn.q_proj",
            "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "final_layer_norm", "fc1", "fc2");

    public OptConfig {
        if (hiddenSize <= 0 || intermediateSize <= 0 || numLayers <= 0 || vocabSize <= 0 || maxPositionEmbeddings <= 0) {
            throw new IllegalArgumentException(
                    "hidden_size, ffn_dim, num_hidden_layers, vocab_size and max_position_embeddings must be positive");
        }
        if (numHeads <= 0 || hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numHeads);
        }
    }

    @Override
    public int numKvHeads() {
        return numHeads;
    }

    @Override
    public String modelType() {
        return "opt";
    }

    @Override
    public boolean layerNorm() {
        return true;
    }

    @Override
    public float normEps() {
        return LAYER_NORM_EPS;
    }

    @Override
    public boolean linearBias() {
        return true;
    }

    @Override
    public boolean learnedPositions() {
        return true;
    }

    @Override
    public boolean gatedMlp() {
        return false;
    }

    @Override
    public String decoderPrefix() {
        return "model.decoder.";
    }

    @Override
    public List<String> blockNames() {
        return BLOCK_NAMES;
    }

    @Override
    public String finalNormName() {
        return "model.decoder.final_layer_norm";
    }

    @Override
    public List<String> linearTargets() {
        return LoraConfig.OPT_TARGETS;
    }

    /** Named sizes for {@code init-model --arch opt --preset}; the vocabulary comes from the tokenizer. */
    public static OptConfig preset(String name, int vocab) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny" -> new OptConfig(64, 256, 2, 4, vocab, true, 512, 2, 2, 1);
            case "small" -> new OptConfig(288, 1152, 6, 6, vocab, true, 1024, 2, 2, 1);
            case "125m" -> new OptConfig(768, 3072, 12, 12, vocab, true, 2048, 2, 2, 1);
            // the paper's reward model backbone
            case "1.3b" -> new OptConfig(2048, 8192, 24, 32, vocab, true, 2048, 2, 2, 1);
            default -> throw new IllegalArgumentException("unknown --preset " + name + " for OPT (tiny, small, 125m or 1.3b)");
        };
    }

    /** The configuration in the parsed config.json {@code n} of file {@code configJson}. */
    static OptConfig fromJson(Path configJson, JsonNode n) {
        try {
            int hidden = ModelConfig.requiredInt(n, "hidden_size");
            refuseUnless(n.path("do_layer_norm_before").asBoolean(true), "do_layer_norm_before = false (post-norm OPT-350m)");
            refuseUnless(n.path("word_embed_proj_dim").asInt(hidden) == hidden,
                    "word_embed_proj_dim " + n.path("word_embed_proj_dim").asInt() + " != hidden_size " + hidden
                            + " (projected embeddings)");
            String act = n.path("activation_function").asText("relu");
            refuseUnless(act.equals("relu"), "activation_function " + act);
            refuseUnless(n.path("enable_bias").asBoolean(true), "enable_bias = false");
            refuseUnless(n.path("layer_norm_elementwise_affine").asBoolean(true), "layer_norm_elementwise_affine = false");
            return new OptConfig(
                    hidden,
                    ModelConfig.requiredInt(n, "ffn_dim"),
                    ModelConfig.requiredInt(n, "num_hidden_layers"),
                    ModelConfig.requiredInt(n, "num_attention_heads"),
                    ModelConfig.requiredInt(n, "vocab_size"),
                    n.path("tie_word_embeddings").asBoolean(true),
                    n.path("max_position_embeddings").asInt(2048),
                    n.path("bos_token_id").asInt(2),
                    n.path("eos_token_id").asInt(2),
                    n.path("pad_token_id").asInt(1));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
        }
    }

    private static void refuseUnless(boolean ok, String what) {
        if (!ok) throw new IllegalArgumentException("OPT with " + what + " is not supported");
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("architectures").add("OPTForCausalLM");
        n.put("model_type", "opt");
        n.put("hidden_size", hiddenSize);
        n.put("word_embed_proj_dim", hiddenSize);
        n.put("ffn_dim", intermediateSize);
        n.put("num_hidden_layers", numLayers);
        n.put("num_attention_heads", numHeads);
        n.put("activation_function", "relu");
        n.put("do_layer_norm_before", true);
        n.put("enable_bias", true);
        n.put("layer_norm_elementwise_affine", true);
        n.put("vocab_size", vocabSize);
        n.put("tie_word_embeddings", tieWordEmbeddings);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("bos_token_id", bosTokenId);
        n.put("eos_token_id", eosTokenId);
        n.put("pad_token_id", padTokenId);
        n.put("init_std", 0.02);
        n.put("dropout", 0.0);
        n.put("attention_dropout", 0.0);
        n.put("activation_dropout", 0.0);
        n.put("layerdrop", 0.0);
        n.put("torch_dtype", "float32");
        return n;
    }
}
