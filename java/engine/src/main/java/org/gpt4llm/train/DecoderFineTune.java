package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntConsumer;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;

/** What full fine-tuning and LoRA share: the model's forward and backward, and the base's tokenizer files. */
abstract class DecoderFineTune implements TrainableModel<TokenBatch> {
    final DecoderModel model;
    final Path base;

    /** {@code base} is the folder the model came from (its tokenizer files are carried along), or null. */
    DecoderFineTune(DecoderModel model, Path base) {
        this.model = model;
        this.base = base;
    }

    public DecoderModel model() {
        return model;
    }

    @Override
    public DecoderModel decoder() {
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
    public void stage(List<TokenBatch> micro) {
        model.stage(micro);
    }

    @Override
    public void forward(TokenBatch batch, int slot, StepScalars step) {
        model.forward(batch, slot, step);
    }

    @Override
    public void backward(StepScalars step) {
        model.backward(step);
    }

    @Override
    public boolean queuesOnly() {
        return true;
    }

    @Override
    public long bufferGeneration() {
        return model.bufferGeneration();
    }

    @Override
    public boolean onGradientsDone(IntConsumer hook) {
        model.onGradientsDone(hook);
        return true;
    }

    @Override
    public boolean streamGradients() {
        model.streamGradients(true);
        return true;
    }

    @Override
    public void zeroGrad() {
        model.zeroGrad();
    }

    /** Copies the base model's tokenizer files into a saved folder, so it loads as it is. */
    void copyTokenizerFiles(Path dir) throws IOException {
        TokenizerFiles.copy(base, dir);
    }
}
