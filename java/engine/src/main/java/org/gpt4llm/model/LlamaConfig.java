package org.gpt4llm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The fields of an HF {@code LlamaForCausalLM} {@code config.json} that define the network. */
public record LlamaConfig(
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        float rmsNormEps,
        float ropeTheta,
        int vocabSize,
        boolean tieWordEmbeddings,
        int maxPositionEmbeddings,
        int bosTokenId,
        int eosTokenId) implements ModelConfig {

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
    public String modelType() {
        return "llama";
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

    /** Named sizes for {@code init-model --preset}; the vocabulary comes from the tokenizer. */
    public static LlamaConfig preset(String name, int vocab) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            // a few seconds a step on 2 cores: for tests and the demo
            case "tiny" -> new LlamaConfig(64, 176, 2, 4, 2, 1e-5f, 10000f, vocab, false, 512, 1, 2);
            // a few times faster than small on 2 cores; learns the rule-based demo tasks in minutes (gpt4llm demo)
            case "demo" -> new LlamaConfig(128, 352, 4, 4, 4, 1e-5f, 10000f, vocab, false, 256, 1, 2);
            // TinyStories-scale: the size `bench step` measures
            case "small" -> new LlamaConfig(288, 768, 6, 6, 6, 1e-5f, 10000f, vocab, false, 1024, 1, 2);
            // LLaMA-7B, the model the paper tunes
            case "7b" -> new LlamaConfig(4096, 11008, 32, 32, 32, 1e-6f, 10000f, vocab, false, 2048, 1, 2);
            default -> throw new IllegalArgumentException("unknown --preset " + name + " (tiny, demo, small or 7b)");
        };
    }

    /** Reads an HF config.json; a missing or wrong field is named together with the file. */
    public static LlamaConfig read(Path configJson) throws IOException {
        if (ModelConfig.read(configJson) instanceof LlamaConfig c) return c;
        throw new IllegalArgumentException(configJson + ": not a LLaMA model");
    }

    /** The configuration in the parsed config.json {@code n} of file {@code configJson}. */
    static LlamaConfig fromJson(Path configJson, JsonNode n) {
        try {
            String arch = n.path("architectures").path(0).asText("LlamaForCausalLM");
            String type = n.path("model_type").asText("llama");
            if (!arch.equals("LlamaForCausalLM") && !type.equals("llama") && !type.equals("mistral")) {
                throw new IllegalArgumentException("architecture " + arch + " (model_type " + type + ") is not a LLaMA model");
            }
            int hidden = ModelConfig.requiredInt(n, "hidden_size");
            int heads = ModelConfig.requiredInt(n, "num_attention_heads");
            return new LlamaConfig(
                    hidden,
                    ModelConfig.requiredInt(n, "intermediate_size"),
                    ModelConfig.requiredInt(n, "num_hidden_layers"),
                    heads,
                    n.path("num_key_value_heads").asInt(heads),
                    (float) n.path("rms_norm_eps").asDouble(1e-6),
                    (float) n.path("rope_theta").asDouble(10000.0),
                    ModelConfig.requiredInt(n, "vocab_size"),
                    n.path("tie_word_embeddings").asBoolean(false),
                    n.path("max_position_embeddings").asInt(2048),
                    n.path("bos_token_id").asInt(1),
                    n.path("eos_token_id").asInt(2));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
        }
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("architectures").add("LlamaForCausalLM");
        n.put("model_type", "llama");
        n.put("hidden_size", hiddenSize);
        n.put("intermediate_size", intermediateSize);
        n.put("num_hidden_layers", numLayers);
        n.put("num_attention_heads", numHeads);
        n.put("num_key_value_heads", numKvHeads);
        n.put("head_dim", headDim());
        n.put("hidden_act", "silu");
        n.put("rms_norm_eps", rmsNormEps);
        n.put("rope_theta", ropeTheta);
        n.put("vocab_size", vocabSize);
        n.put("tie_word_embeddings", tieWordEmbeddings);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("bos_token_id", bosTokenId);
        n.put("eos_token_id", eosTokenId);
        n.put("initializer_range", 0.02);
        n.put("attention_bias", false);
        n.put("mlp_bias", false);
        n.put("torch_dtype", "float32");
        return n;
    }

}
