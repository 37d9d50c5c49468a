package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;

/**
 * What the trainer needs of a model: full fine-tuning ({@link FullFineTune}) trains every weight,
 * a LoRA variant only its adapters. Gradients accumulate across {@link #backward} calls until
 * {@link #zeroGrad}.
 */
public interface TrainableModel {
    Backend backend();

    /** Runs the batch; returns the mean loss over its targets (0 when it has none). */
    float forward(TokenBatch batch);

    /** Adds {@code gradScale * d(sum of token losses of the last forward)/d(weight)} to the gradients. */
    void backward(float gradScale);

    void zeroGrad();

    /** The weights the optimizer updates, by name. */
    Map<String, Tensor> trainableParameters();

    /** Their gradients, under the same names. */
    Map<String, Tensor> trainableGradients();

    /** Whether a weight gets weight decay; HF's Trainer exempts biases and normalisation weights. */
    default boolean decays(String name) {
        return !name.endsWith(".bias") && !name.contains("norm");
    }

    /** Training mode turns dropout on; evaluation runs with it off. */
    default void setTraining(boolean training) {}

    /** The seed of the dropout masks of the next forward passes (set per step, so a resumed run draws the same). */
    default void setDropoutSeed(long seed) {}

    /** Writes what was trained into {@code dir}: an HF checkpoint, or an adapter. */
    void save(Path dir) throws IOException;

    /** Loads back what {@link #save} wrote, for {@code --resume}. */
    void restore(Path dir) throws IOException;
}
