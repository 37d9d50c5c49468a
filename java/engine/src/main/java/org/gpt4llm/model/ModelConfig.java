package org.gpt4llm.model;

import com.fasterxml.jackson.annotation.JsonSetter;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.annotation.Nulls;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.JsonFiles;
import org.gpt4llm.tensor.DType;

/**
 * The shape of a decoder-only transformer and what distinguishes its family, read from an HF
 * {@code config.json}. {@link DecoderModel} runs every family with one forward and backward; the
 * answers here choose its norms, positions, MLP and tensor names.
 *
 * <p>The family of a config.json is its {@code model_type}: "opt" is an {@link OptConfig}, anything
 * else is read as a {@link LlamaConfig} (which refuses what is not a LLaMA by name).
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "model_type",
        visible = true, defaultImpl = LlamaConfig.class)
@JsonSubTypes({@JsonSubTypes.Type(value = LlamaConfig.class, names = {"llama", "mistral"}),
        @JsonSubTypes.Type(value = OptConfig.class, name = "opt")})
public sealed interface ModelConfig permits LlamaConfig, OptConfig {
    /** Maps config.json files; HF writes null for a value it leaves unset, so a null keeps the default. */
    ObjectMapper JSON = new ObjectMapper().setDefaultSetterInfo(JsonSetter.Value.forValueNulls(Nulls.SKIP));

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

    /** The HF config.json of this configuration (float32 weights), as the record's annotations map it. */
    default ObjectNode toJson() {
        return JSON.valueToTree(this);
    }

    default void write(Path configJson) throws IOException {
        write(configJson, DType.F32);
    }

    /** Writes config.json for a checkpoint stored in {@code storage}: its {@code torch_dtype} names that type. */
    default void write(Path configJson, DType storage) throws IOException {
        AtomicFiles.writeJson(configJson, toJson().put("torch_dtype", switch (storage) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        }));
    }

    /**
     * Reads an HF config.json of any supported family; a missing or wrong field, or a variant this engine
     * does not run, is one sentence naming the file and the field.
     */
    static ModelConfig read(Path configJson) throws IOException {
        return JsonFiles.read(JSON, configJson, ModelConfig.class);
    }

    /** A field every config.json must have: {@code value}, or an error naming the field when it was not given. */
    static int required(Integer value, String field) {
        if (value == null) throw new IllegalArgumentException("field " + field + " is missing");
        return value;
    }
}
