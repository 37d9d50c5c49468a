package org.gpt4llm.model;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import com.fasterxml.jackson.databind.annotation.JsonPOJOBuilder;
import java.util.List;
import java.util.Locale;

/**
 * The fields of an HF {@code OPTForCausalLM} {@code config.json} that define the network: pre-LayerNorm
 * blocks ({@code do_layer_norm_before}), learned positions offset by {@link #POSITION_OFFSET}, ReLU MLP,
 * biases on every linear layer, a final LayerNorm and a head tied to the embeddings. The variants
 * this engine does not run (OPT-350m's post-norm and projected embeddings) are refused by name.
 * Read through its {@link Builder}, written with the fixed keys transformers also reads.
 */
@JsonDeserialize(builder = OptConfig.Builder.class)
@JsonPropertyOrder({"architectures", "model_type", "hidden_size", "word_embed_proj_dim", "ffn_dim", "num_hidden_layers",
        "num_attention_heads", "activation_function", "do_layer_norm_before", "enable_bias", "layer_norm_elementwise_affine",
        "vocab_size", "tie_word_embeddings", "max_position_embeddings", "bos_token_id", "eos_token_id", "pad_token_id",
        "init_std", "dropout", "attention_dropout", "activation_dropout", "layerdrop", "torch_dtype"})
public record OptConfig(
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("ffn_dim") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numLayers,
        @JsonProperty("num_attention_heads") int numHeads,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("tie_word_embeddings") boolean tieWordEmbeddings,
        @JsonProperty("max_position_embeddings") int maxPositionEmbeddings,
        @JsonProperty("bos_token_id") int bosTokenId,
        @JsonProperty("eos_token_id") int eosTokenId,
        @JsonProperty("pad_token_id") int padTokenId) implements ModelConfig {
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
    @JsonProperty("model_type")
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

    /**
     * Named sizes for {@code init-model --arch opt --preset}; the vocabulary comes from the tokenizer. All
     * tie the head to the embeddings and use fairseq's ids (bos = eos = 2, pad 1): the builder's defaults.
     */
    public static OptConfig preset(String name, int vocab) {
        Builder b = switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny" -> builder().hiddenSize(64).intermediateSize(256).numLayers(2).numHeads(4).maxPositionEmbeddings(512);
            case "small" -> builder().hiddenSize(288).intermediateSize(1152).numLayers(6).numHeads(6).maxPositionEmbeddings(1024);
            case "125m" -> builder().hiddenSize(768).intermediateSize(3072).numLayers(12).numHeads(12).maxPositionEmbeddings(2048);
            // the paper's reward model backbone
            case "1.3b" -> builder().hiddenSize(2048).intermediateSize(8192).numLayers(24).numHeads(32).maxPositionEmbeddings(2048);
            default -> throw new IllegalArgumentException("unknown --preset " + name + " for OPT (tiny, small, 125m or 1.3b)");
        };
        return b.vocabSize(vocab).build();
    }

    // the keys transformers reads that have one value for every model this engine runs

    @JsonProperty("architectures")
    private List<String> architectures() {
        return List.of("OPTForCausalLM");
    }

    @JsonProperty("word_embed_proj_dim")
    private int wordEmbedProjDim() {
        return hiddenSize;
    }

    @JsonProperty("activation_function")
    private String activationFunction() {
        return "relu";
    }

    @JsonProperty("do_layer_norm_before")
    private boolean doLayerNormBefore() {
        return true;
    }

    @JsonProperty("enable_bias")
    private boolean enableBias() {
        return true;
    }

    @JsonProperty("layer_norm_elementwise_affine")
    private boolean layerNormElementwiseAffine() {
        return true;
    }

    /** transformers' init std, for a model it initialises from this file. */
    @JsonProperty("init_std")
    private double initStd() {
        return 0.02;
    }

    @JsonProperty("dropout")
    private double dropout() {
        return 0.0;
    }

    @JsonProperty("attention_dropout")
    private double attentionDropout() {
        return 0.0;
    }

    @JsonProperty("activation_dropout")
    private double activationDropout() {
        return 0.0;
    }

    @JsonProperty("layerdrop")
    private double layerdrop() {
        return 0.0;
    }

    /** float32 here; {@link ModelConfig#write(java.nio.file.Path, org.gpt4llm.tensor.DType)} names the stored type. */
    @JsonProperty("torch_dtype")
    private String torchDtype() {
        return "float32";
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding every value of this configuration, to change some of them. */
    public Builder toBuilder() {
        return builder().hiddenSize(hiddenSize).intermediateSize(intermediateSize).numLayers(numLayers).numHeads(numHeads)
                .vocabSize(vocabSize).tieWordEmbeddings(tieWordEmbeddings).maxPositionEmbeddings(maxPositionEmbeddings)
                .bosTokenId(bosTokenId).eosTokenId(eosTokenId).padTokenId(padTokenId);
    }

    /**
     * An {@link OptConfig} by name, and the reader of config.json (each key is the HF key of the method).
     * The sizes and the head count must be given; the rest default as transformers' {@code OPTConfig} does:
     * tied head, 2048 positions, {@code </s>} 2 as both bos and eos, pad 1. A config.json of a variant this
     * engine does not run (post-norm, projected embeddings, another activation, no biases or norm weights)
     * is refused by build().
     */
    @JsonPOJOBuilder(withPrefix = "")
    @JsonIgnoreProperties(ignoreUnknown = true)
    public static final class Builder {
        private Integer hiddenSize, intermediateSize, numLayers, numHeads, vocabSize;
        private boolean tieWordEmbeddings = true;
        private int maxPositionEmbeddings = 2048, bosTokenId = 2, eosTokenId = 2, padTokenId = 1;
        // what a config.json says of its variant; checked by build()
        private boolean doLayerNormBefore = true, enableBias = true, layerNormElementwiseAffine = true;
        private Integer wordEmbedProjDim;
        private String activationFunction = "relu";

        private Builder() {}

        @JsonProperty("hidden_size")
        public Builder hiddenSize(int v) {
            hiddenSize = v;
            return this;
        }

        /** OPT's {@code ffn_dim}. */
        @JsonProperty("ffn_dim")
        public Builder intermediateSize(int v) {
            intermediateSize = v;
            return this;
        }

        @JsonProperty("num_hidden_layers")
        public Builder numLayers(int v) {
            numLayers = v;
            return this;
        }

        @JsonProperty("num_attention_heads")
        public Builder numHeads(int v) {
            numHeads = v;
            return this;
        }

        @JsonProperty("vocab_size")
        public Builder vocabSize(int v) {
            vocabSize = v;
            return this;
        }

        @JsonProperty("tie_word_embeddings")
        public Builder tieWordEmbeddings(boolean v) {
            tieWordEmbeddings = v;
            return this;
        }

        @JsonProperty("max_position_embeddings")
        public Builder maxPositionEmbeddings(int v) {
            maxPositionEmbeddings = v;
            return this;
        }

        @JsonProperty("bos_token_id")
        public Builder bosTokenId(int v) {
            bosTokenId = v;
            return this;
        }

        @JsonProperty("eos_token_id")
        public Builder eosTokenId(int v) {
            eosTokenId = v;
            return this;
        }

        @JsonProperty("pad_token_id")
        public Builder padTokenId(int v) {
            padTokenId = v;
            return this;
        }

        @JsonProperty("do_layer_norm_before")
        private Builder doLayerNormBefore(boolean v) {
            doLayerNormBefore = v;
            return this;
        }

        @JsonProperty("word_embed_proj_dim")
        private Builder wordEmbedProjDim(int v) {
            wordEmbedProjDim = v;
            return this;
        }

        @JsonProperty("activation_function")
        private Builder activationFunction(String v) {
            activationFunction = v;
            return this;
        }

        @JsonProperty("enable_bias")
        private Builder enableBias(boolean v) {
            enableBias = v;
            return this;
        }

        @JsonProperty("layer_norm_elementwise_affine")
        private Builder layerNormElementwiseAffine(boolean v) {
            layerNormElementwiseAffine = v;
            return this;
        }

        public OptConfig build() {
            int hidden = ModelConfig.required(hiddenSize, "hidden_size");
            refuseUnless(doLayerNormBefore, "do_layer_norm_before = false (post-norm OPT-350m)");
            refuseUnless(wordEmbedProjDim == null || wordEmbedProjDim == hidden,
                    "word_embed_proj_dim " + wordEmbedProjDim + " != hidden_size " + hidden + " (projected embeddings)");
            refuseUnless(activationFunction.equals("relu"), "activation_function " + activationFunction);
            refuseUnless(enableBias, "enable_bias = false");
            refuseUnless(layerNormElementwiseAffine, "layer_norm_elementwise_affine = false");
            return new OptConfig(hidden, ModelConfig.required(intermediateSize, "ffn_dim"),
                    ModelConfig.required(numLayers, "num_hidden_layers"), ModelConfig.required(numHeads, "num_attention_heads"),
                    ModelConfig.required(vocabSize, "vocab_size"), tieWordEmbeddings, maxPositionEmbeddings, bosTokenId,
                    eosTokenId, padTokenId);
        }

        private static void refuseUnless(boolean ok, String what) {
            if (!ok) throw new IllegalArgumentException("OPT with " + what + " is not supported");
        }
    }
}
