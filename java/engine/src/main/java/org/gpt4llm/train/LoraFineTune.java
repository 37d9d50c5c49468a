package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.tensor.Tensor;

/**
 * LoRA: adapters on a frozen base ({@link DecoderModel#enableLora} already called). Checkpoints are
 * PEFT adapter folders ({@code adapter_config.json} + {@code adapter_model.safetensors}) with the
 * base's tokenizer files; dropout runs in training only, its masks seeded per micro-step by the
 * trainer so a resumed run draws the same ones.
 */
public final class LoraFineTune extends DecoderFineTune {
    public LoraFineTune(DecoderModel model, Path base) {
        super(model, base);
        if (model.loraConfig() == null) throw new IllegalArgumentException("LoRA fine-tuning needs a model with adapters");
    }

    @Override
    public Map<String, Tensor> trainableParameters() {
        return model.trainableParameters();
    }

    @Override
    public Map<String, Tensor> trainableGradients() {
        return model.trainableGradients();
    }

    @Override
    public void setTraining(boolean training) {
        model.setTraining(training);
    }

    @Override
    public void setDropoutSeed(long seed) {
        model.setDropoutSeed(seed);
    }

    @Override
    public void save(Path dir) throws IOException {
        model.saveAdapter(dir, base == null ? "" : base.toString());
        copyTokenizerFiles(dir);
    }

    /** The adapters are whole on every rank, and small: rank 0 writes them. */
    @Override
    public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
        if (rank == 0) save(dir);
    }

    @Override
    public void restore(Path dir) throws IOException {
        model.loadAdapter(dir);
    }
}
