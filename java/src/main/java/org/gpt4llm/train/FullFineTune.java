package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.model.LlamaModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;

/**
 * Full fine-tuning: every weight of a {@link LlamaModel} is trained, and checkpoints are HF model
 * folders ({@code config.json} + safetensors) with the base model's tokenizer files copied next to
 * them, so each one loads in transformers as it is.
 */
public final class FullFineTune implements TrainableModel {
    /** Tokenizer files transformers' {@code AutoTokenizer} reads from a model folder. */
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt", "generation_config.json");

    private final LlamaModel model;
    private final Path base;

    /** {@code base} is the folder the model came from (its tokenizer files are carried along), or null. */
    public FullFineTune(LlamaModel model, Path base) {
        this.model = model;
        this.base = base;
    }

    public LlamaModel model() {
        return model;
    }

    @Override
    public Backend backend() {
        return model.backend();
    }

    @Override
    public float forward(TokenBatch batch) {
        return model.forward(batch);
    }

    @Override
    public void backward(float gradScale) {
        model.backward(gradScale);
    }

    @Override
    public void zeroGrad() {
        model.zeroGrad();
    }

    @Override
    public Map<String, Tensor> trainableParameters() {
        return model.parameters();
    }

    @Override
    public Map<String, Tensor> trainableGradients() {
        return model.gradients();
    }

    @Override
    public void save(Path dir) throws IOException {
        model.save(dir);
        if (base == null) return;
        for (String name : TOKENIZER_FILES) {
            Path f = base.resolve(name);
            if (Files.isRegularFile(f)) Files.copy(f, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Override
    public void restore(Path dir) throws IOException {
        try (Arena mapping = Arena.ofShared()) {
            Map<String, Tensor> saved = Checkpoint.load(dir, mapping);
            for (var e : model.parameters().entrySet()) {
                Tensor t = saved.get(e.getKey());
                if (t == null) throw new IOException(dir + ": tensor " + e.getKey() + " is missing");
                model.backend().upload(e.getValue(), t);
            }
        }
    }
}
