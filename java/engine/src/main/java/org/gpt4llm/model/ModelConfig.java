package org.gpt4llm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.tensor.DType;

/**
 * The shape of a decoder-only transformer and what distinguishes its family, read from an HF
 * {@code config.json}. {@link DecoderModel} runs every family with one forward and backward; the
 * answers here choose its norms, positions, MLP and tensor names.
 */
public sealed interface ModelConfig permits LlamaConfig, OptConfig {
    ObjectMapper JSON = new ObjectMapper();

    int hiddenSize();

    /** Width of the MLP's hidden layer (LLaMA's intermediate_size, OPT's ffn_dim). */
    int intermediateSize();

    int numLayers();

    int numHeads();

    int numKvHeads();

    int vocabSize();

    boolean tieWordEmbeddings();

    int maxPositionEmbeddings();

    int bosTokenId();

    int eosTokenId();

    default int headDim() {
        return hiddenSize() / numHeads();
    }

    default int kvDim() {
        return numKvHeads() * headDim();
    }

    /** HF's {@code model_type}: "llama" or "opt". */
    String modelType();

    /** LayerNorm with bias (OPT) rather than RMSNorm (LLaMA). */
    boolean layerNorm();

    float normEps();

    /** Whether every linear layer of a block has a bias (OPT). */
    boolean linearBias();

    /** Learned absolute positions added to the embeddings (OPT) rather than rotary ones on q and k (LLaMA). */
    boolean learnedPositions();

    /** Rotary base (LLaMA); unused with learned positions. */
    default float ropeTheta() {
        return 10000f;
    }

    /** SwiGLU (gate, up, down) rather than fc1, ReLU, fc2. */
    boolean gatedMlp();

    /** Prefix of the decoder's tensor names: "model." or "model.decoder.". */
    String decoderPrefix();

    /**
     * The HF names, relative to a layer's prefix, of a block's parts in the order {@link DecoderModel}
     * uses them: the attention norm, q, k, v, o, the MLP norm, then the MLP's linear layers (gate, up,
     * down or fc1, fc2).
     */
    List<String> blockNames();

    /** The HF module name of the norm after the last layer ("model.norm", "model.decoder.final_layer_norm"). */
    String finalNormName();

    /** The block's linear layers by their PEFT target name (q_proj ... down_proj or fc2), in run order. */
    List<String> linearTargets();

    /** The HF config.json of this configuration. */
    ObjectNode toJson();

    default void write(Path configJson) throws IOException {
        AtomicFiles.writeJson(configJson, toJson());
    }

    /** As {@link #write(Path)}, for a checkpoint stored in {@code storage}: its {@code torch_dtype} names that type. */
    default void write(Path configJson, DType storage) throws IOException {
        ObjectNode n = toJson();
        n.put("torch_dtype", switch (storage) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        });
        AtomicFiles.writeJson(configJson, n);
    }

    /** Reads an HF config.json of any supported family; a missing or wrong field is named together with the file. */
    static ModelConfig read(Path configJson) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(configJson.toFile());
        } catch (IOException e) {
            throw new IOException(configJson + " is not valid JSON: " + e.getMessage(), e);
        }
        String type = n.path("model_type").asText("");
        return type.equals("opt") ? OptConfig.fromJson(configJson, n) : LlamaConfig.fromJson(configJson, n);
    }

    /** An integer field that must be there. */
    static int requiredInt(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.canConvertToInt()) throw new IllegalArgumentException("field " + field + " is missing or not an integer");
        return v.asInt();
    }
}
