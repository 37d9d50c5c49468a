package org.gpt4llm.model;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import com.fasterxml.jackson.databind.annotation.JsonPOJOBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The fields of an HF {@code LlamaForCausalLM} {@code config.json} that define the network, under their
 * HF keys. It is read through its {@link Builder} (HF's defaults for the keys a file leaves out, other
 * keys ignored) and written with the fixed keys transformers also reads ({@code head_dim},
 * {@code hidden_act}, ...), in the order of {@code @JsonPropertyOrder}.
 */
@JsonDeserialize(builder = LlamaConfig.Builder.class)
@JsonPropertyOrder({"architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps", "rope_theta",
        "vocab_size", "tie_word_embeddings", "max_position_embeddings", "bos_token_id", "eos_token_id",
        "initializer_range", "attention_bias", "mlp_bias", "torch_dtype"})
public record LlamaConfig(
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("intermediate_size") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numLayers,
        @JsonProperty("num_attention_heads") int numHeads,
        @JsonProperty("num_key_value_heads") int numKvHeads,
        @JsonProperty("rms_norm_eps") float rmsNormEps,
        @JsonProperty("rope_theta") float ropeTheta,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("tie_word_embeddings") boolean tieWordEmbeddings,
        @JsonProperty("max_position_embeddings") int maxPositionEmbeddings,
        @JsonProperty("bos_token_id") int bosTokenId,
        @JsonProperty("eos_token_id") int eosTokenId) implements ModelConfig {
    public LlamaConfig {
        require(hiddenSize > 0 && intermediateSize > 0 && numLayers > 0 && vocabSize > 0,
                "hidden_size, intermediate_size, num_hidden_layers and vocab_size must be positive");
        require(numHeads > 0 && hiddenSize % numHeads == 0,
                "hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numHeads);
        require(numKvHeads > 0 && numHeads % numKvHeads == 0,
                "num_attention_heads " + numHeads + " is not a multiple of num_key_value_heads " + numKvHeads);
        require((hiddenSize / numHeads) % 2 == 0, "the head dimension " + hiddenSize / numHeads + " must be even for rotary embeddings");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    @Override
    @JsonProperty("model_type")
    public String modelType() {
        return "llama";
    }

    @Override
    @JsonProperty("head_dim")
    public int headDim() {
        return ModelConfig.super.headDim();
    }

    @JsonProperty("architectures")
    private List<String> architectures() {
        return List.of("LlamaForCausalLM");
    }

    @JsonProperty("hidden_act")
    private String hiddenAct() {
        return "silu";
    }

    /** transformers' init std, for a model it initialises from this file. */
    @JsonProperty("initializer_range")
    private double initializerRange() {
        return 0.02;
    }

    @JsonProperty("attention_bias")
    private boolean attentionBias() {
        return false;
    }

    @JsonProperty("mlp_bias")
    private boolean mlpBias() {
        return false;
    }

    /** float32 here; {@link ModelConfig#write(Path, org.gpt4llm.tensor.DType)} names the stored type. */
    @JsonProperty("torch_dtype")
    private String torchDtype() {
        return "float32";
    }

    @Override
    public boolean layerNorm() {
        return false;
    }

    @Override
    public float normEps() {
        return rmsNormEps;
    }

    @Override
    public boolean linearBias() {
        return false;
    }

    @Override
    public boolean learnedPositions() {
        return false;
    }

    @Override
    public boolean gatedMlp() {
        return true;
    }

    @Override
    public String decoderPrefix() {
        return "model.";
    }

    @Override
    public List<String> blockNames() {
        return BLOCK_NAMES;
    }

    @Override
    public String finalNormName() {
        return "model.norm";
    }

    @Override
    public List<String> linearTargets() {
        return LoraConfig.LLAMA_TARGETS;
    }

    private static final List<String> BLOCK_NAMES = List.of("input_layernorm", "self_attn.q_proj", "self_attn.k_proj",
            "self_attn.v_proj", "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
            "mlp.down_proj");

    /**
     * Named sizes for {@code init-model --preset}; the vocabulary comes from the tokenizer. All have
     * rotary base 10000, an untied head and LLaMA's {@code <s>} 1 and {@code </s>} 2 (the builder's defaults).
     */
    public static LlamaConfig preset(String name, int vocab) {
        Builder b = switch (name.toLowerCase(Locale.ROOT)) {
            // a few seconds a step on 2 cores: for tests and the demo
            case "tiny" -> builder().hiddenSize(64).intermediateSize(176).numLayers(2).numHeads(4).numKvHeads(2)
                    .rmsNormEps(1e-5f).maxPositionEmbeddings(512);
            // a few times faster than small on 2 cores; learns the rule-based demo tasks in minutes (gpt4llm demo)
            case "demo" -> builder().hiddenSize(128).intermediateSize(352).numLayers(4).numHeads(4).numKvHeads(4)
                    .rmsNormEps(1e-5f).maxPositionEmbeddings(256);
            // TinyStories-scale: the size `bench step` measures
            case "small" -> builder().hiddenSize(288).intermediateSize(768).numLayers(6).numHeads(6).numKvHeads(6)
                    .rmsNormEps(1e-5f).maxPositionEmbeddings(1024);
            // LLaMA-7B, the model the paper tunes
            case "7b" -> builder().hiddenSize(4096).intermediateSize(11008).numLayers(32).numHeads(32).numKvHeads(32)
                    .rmsNormEps(1e-6f).maxPositionEmbeddings(2048);
            default -> throw new IllegalArgumentException("unknown --preset " + name + " (tiny, demo, small or 7b)");
        };
        return b.vocabSize(vocab).build();
    }

    /** Reads an HF config.json; a missing or wrong field is named together with the file. */
    public static LlamaConfig read(Path configJson) throws IOException {
        if (ModelConfig.read(configJson) instanceof LlamaConfig c) return c;
        throw new IllegalArgumentException(configJson + ": not a LLaMA model");
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding every value of this configuration, to change some of them. */
    public Builder toBuilder() {
        return builder().hiddenSize(hiddenSize).intermediateSize(intermediateSize).numLayers(numLayers).numHeads(numHeads)
                .numKvHeads(numKvHeads).rmsNormEps(rmsNormEps).ropeTheta(ropeTheta).vocabSize(vocabSize)
                .tieWordEmbeddings(tieWordEmbeddings).maxPositionEmbeddings(maxPositionEmbeddings).bosTokenId(bosTokenId)
                .eosTokenId(eosTokenId);
    }

    /**
     * A {@link LlamaConfig} by name, and the reader of config.json (each key is the HF key of the method).
     * The four sizes and the head count must be given; the rest default as transformers' {@code LlamaConfig}
     * does: KV heads = heads, RMSNorm eps 1e-6, rotary base 10000, untied head, 2048 positions, {@code <s>} 1,
     * {@code </s>} 2.
     */
    @JsonPOJOBuilder(withPrefix = "")
    @JsonIgnoreProperties(ignoreUnknown = true)
    public static final class Builder {
        private Integer hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, vocabSize;
        private float rmsNormEps = 1e-6f, ropeTheta = 10000f;
        private boolean tieWordEmbeddings;
        private int maxPositionEmbeddings = 2048, bosTokenId = 1, eosTokenId = 2;
        // what a config.json says it is; checked by build()
        private String architecture = "LlamaForCausalLM", modelType = "llama";

        private Builder() {}

        @JsonProperty("hidden_size")
        public Builder hiddenSize(int v) {
            hiddenSize = v;
            return this;
        }

        @JsonProperty("intermediate_size")
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

        @JsonProperty("num_key_value_heads")
        public Builder numKvHeads(int v) {
            numKvHeads = v;
            return this;
        }

        @JsonProperty("rms_norm_eps")
        public Builder rmsNormEps(float v) {
            rmsNormEps = v;
            return this;
        }

        @JsonProperty("rope_theta")
        public Builder ropeTheta(float v) {
            ropeTheta = v;
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

        public Builder eosTokenId(int v) {
            eosTokenId = v;
            return this;
        }

        /** Newer config.json files list several end tokens; the first is the end of a text. */
        @JsonProperty("eos_token_id")
        @JsonFormat(with = JsonFormat.Feature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
        private Builder eosTokenIds(List<Integer> ids) {
            if (!ids.isEmpty() && ids.getFirst() != null) eosTokenId = ids.getFirst();
            return this;
        }

        @JsonProperty("architectures")
        private Builder architectures(List<String> names) {
            if (!names.isEmpty() && names.getFirst() != null) architecture = names.getFirst();
            return this;
        }

        @JsonProperty("model_type")
        private Builder modelType(String type) {
            modelType = type;
            return this;
        }

        public LlamaConfig build() {
            if (!architecture.equals("LlamaForCausalLM") && !modelType.equals("llama") && !modelType.equals("mistral")) {
                throw new IllegalArgumentException("architecture " + architecture + " (model_type " + modelType
                        + ") is not a LLaMA model");
            }
            int hidden = ModelConfig.required(hiddenSize, "hidden_size");
            int heads = ModelConfig.required(numHeads, "num_attention_heads");
            return new LlamaConfig(hidden, ModelConfig.required(intermediateSize, "intermediate_size"),
                    ModelConfig.required(numLayers, "num_hidden_layers"), heads, numKvHeads != null ? numKvHeads : heads,
                    rmsNormEps, ropeTheta, ModelConfig.required(vocabSize, "vocab_size"), tieWordEmbeddings,
                    maxPositionEmbeddings, bosTokenId, eosTokenId);
        }
    }
}
