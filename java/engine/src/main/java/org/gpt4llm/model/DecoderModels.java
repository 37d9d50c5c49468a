package org.gpt4llm.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.tensor.Tensor;

/**
 * Where {@link DecoderModel}s come from: allocated for a configuration, initialised at random, made from
 * weights in memory, or loaded from an HF folder.
 */
public final class DecoderModels {
    private DecoderModels() {}

    /** HF tensor names and shapes of a causal LM with this configuration, in checkpoint order. */
    public static Map<String, long[]> parameterShapes(ModelConfig c) { return DecoderLayout.parameterShapes(c, true); }

    /** A model with the zero weights allocation leaves, nothing uploaded: what {@code gpt4llm plan} builds to size a run. */
    public static DecoderModel zeros(Backend backend, ModelConfig cfg) {
        return new DecoderModel(backend, cfg, true);
    }

    /** HF initialisation: every matrix normal(0, 0.02), norm weights 1, biases 0. Deterministic in {@code seed}. */
    public static DecoderModel initRandom(Backend backend, ModelConfig cfg, long seed) {
        DecoderModel m = new DecoderModel(backend, cfg, true);
        Initializer.hfNormal(m.parameters(), seed, backend::upload); // host fp32, the same numbers on every backend
        return m;
    }

    /** A model holding a copy of {@code weights} (F32, F16 or BF16), checked against the config. */
    public static DecoderModel create(Backend backend, ModelConfig cfg, Map<String, Tensor> weights) {
        return create(backend, cfg, weights, true, "the given weights", name -> "the given weights");
    }

    /** A model without its LM head (a reward model's backbone) holding a copy of the decoder's tensors in {@code weights}, ignoring others. */
    public static DecoderModel createHeadless(Backend backend, ModelConfig cfg, Map<String, Tensor> weights, String source) {
        return create(backend, cfg, weights, false, source, name -> source);
    }

    /** {@link #createHeadless} of the checkpoint in {@code dir} (loaded as {@code weights}). */
    static DecoderModel loadHeadless(Backend backend, ModelConfig cfg, Map<String, Tensor> weights, Path dir) {
        return create(backend, cfg, weights, false, dir.toString(), name -> Checkpoint.fileOf(dir, name).toString());
    }

    /** A model holding a copy of {@code weights}; {@code fileOf} names the file a tensor came from (for a refusal). */
    static DecoderModel create(Backend backend, ModelConfig cfg, Map<String, Tensor> weights, boolean withHead,
                               String source, java.util.function.UnaryOperator<String> fileOf) {
        DecoderModel m = new DecoderModel(backend, cfg, withHead);
        try {
            FiniteWeights.uploadAll(backend, m.parameters(), weights, source, fileOf);
        } catch (RuntimeException bad) {
            m.close();
            throw bad;
        }
        return m;
    }

    /** Loads {@code config.json} and the safetensors weights (single file or sharded) of an HF folder. */
    public static DecoderModel load(Backend backend, Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) throw new IOException(dir + " has no config.json: not a model folder");
        ModelConfig cfg = ModelConfig.read(config);
        try (Arena mapping = Arena.ofShared()) {
            return create(backend, cfg, Checkpoint.load(dir, mapping), true, dir.toString(),
                    name -> Checkpoint.fileOf(dir, name).toString());
        }
    }
}
