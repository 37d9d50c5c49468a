package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.tensor.Tensor;

/**
 * Full fine-tuning: every weight of a {@link DecoderModel} is trained, and checkpoints are HF model
 * folders ({@code config.json} + safetensors) with the base model's tokenizer files copied next to
 * them, so each one loads in transformers as it is.
 */
public final class FullFineTune extends DecoderFineTune {
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
    public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
        model.saveAsRank(dir, rank, ranks);
        if (rank == 0) copyTokenizerFiles(dir);
    }

    @Override
    public void restore(Path dir) throws IOException {
        CheckpointStore.restoreWeights(dir, model.backend(), model.parameters());
    }
}
