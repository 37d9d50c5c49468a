package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.model.Batch;
import org.gpt4llm.tensor.Tensor;

/**
 * What the trainer needs of a model: full fine-tuning ({@link FullFineTune}) trains every weight,
 * a LoRA variant only its adapters. Gradients accumulate across {@link #backward} calls until
 * {@link #zeroGrad}.
 */
public interface TrainableModel<B extends Batch> {
    Backend backend();

    /** Runs the batch; returns the mean loss over its loss terms (0 when it has none). */
    float forward(B batch);

    /** Adds {@code gradScale * d(sum of the loss terms of the last forward)/d(weight)} to the gradients. */
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

    /**
     * Held-out metrics over {@code batches}, run in evaluation mode: {@code eval_loss}, the mean over
     * all their loss terms, and whatever else the task measures (a reward model's accuracy).
     */
    default Map<String, Double> evaluate(Iterable<B> batches) {
        setTraining(false);
        try {
            double sum = 0;
            long terms = 0;
            for (B b : batches) {
                int n = b.lossTerms();
                if (n == 0) continue;
                sum += (double) forward(b) * n;
                terms += n;
            }
            return Map.of("eval_loss", terms == 0 ? 0 : sum / terms);
        } finally {
            setTraining(true);
        }
    }

    /** Writes what was trained into {@code dir}: an HF checkpoint, or an adapter. */
    void save(Path dir) throws IOException;

    /** Loads back what {@link #save} wrote, for {@code --resume}. */
    void restore(Path dir) throws IOException;
}
