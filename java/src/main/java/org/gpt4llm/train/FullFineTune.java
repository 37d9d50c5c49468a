package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.tensor.Tensor;

/**
 * Full fine-tuning: every weight of a {@link DecoderModel} is trained, and checkpoints are HF model
 * folders ({@code config.json} + safetensors) with the base model's tokenizer files copied next to
 * them, so each one loads in transformers as it is.
 */
public final class FullFineTune extends LlamaFineTune {
    public FullFineTune(DecoderModel model, Path base) {
        super(model, base);
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
        copyTokenizerFiles(dir);
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
