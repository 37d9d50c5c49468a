package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.List;
import java.util.function.IntConsumer;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.model.Batch;
import org.gpt4llm.tensor.Tensor;

/**
 * What the trainer needs of a model: full fine-tuning ({@link FullFineTune}) trains every weight,
 * a LoRA variant only its adapters. Gradients accumulate across {@link #backward} calls until
 * {@link #zeroGrad}.
 *
 * <p>A training step ({@link StepRunner}) uses the step forms: {@link #stage} uploads the step's
 * micro-batches, then {@link #forward(Batch, int, StepScalars)} and {@link #backward(StepScalars)} run
 * each with the step's values where the backend keeps them. Their defaults fall back to the plain
 * forms, computing the loss on the host; a model that overrides them so that they read nothing back
 * says so with {@link #queuesOnly}, and its steps may then be captured as a CUDA graph.
 */
public interface TrainableModel<B extends Batch> {
    Backend backend();

    /** Runs the batch; returns the mean loss over its loss terms (0 when it has none). */
    float forward(B batch);

    /** Adds {@code gradScale * d(sum of the loss terms of the last forward)/d(weight)} to the gradients. */
    void backward(float gradScale);

    void zeroGrad();

    /**
     * Asks every following backward to call {@code hook} (null: nothing) with a layer's index as soon as
     * that layer's gradients are complete, from the last layer down, then with -1 once the rest are
     * (embeddings, final norm, head), so that they can leave the device while the backward goes on.
     * False for a model that cannot tell: its gradients are complete after the backward only.
     */
    default boolean onGradientsDone(IntConsumer hook) {
        return false;
    }

    /**
     * Keeps on the device only the gradients of the layers the backward is at (about two, reused layer
     * after layer) plus those outside the layers, for a run whose gradients go to the host as
     * {@link #onGradientsDone} reports them; every backward then needs that listener. Called before an
     * optimizer takes {@link #trainableGradients}. False for a model that keeps every gradient on the device.
     */
    default boolean streamGradients() {
        return false;
    }

    /**
     * The decoder whose layers run this model's forward and backward, for what works on them one by one
     * (ZeRO 3 shards its weights by layer); null for a model without one.
     */
    default org.gpt4llm.model.DecoderModel decoder() {
        return null;
    }

    /** Uploads the micro-batches of a step before its work is queued: micro-batch i is what slot i runs. */
    default void stage(List<B> micro) {}

    /**
     * The forward of micro-batch {@code slot} of a step: adds the sum of its loss terms to
     * {@code step}'s loss sum. By default with {@link #forward(Batch)}, the loss added on the host.
     */
    default void forward(B batch, int slot, StepScalars step) {
        step.addHostLoss((double) forward(batch) * batch.lossTerms());
    }

    /** The backward of the last step forward, with {@code step}'s gradient scale. */
    default void backward(StepScalars step) {
        backward(step.gradScale());
    }

    /**
     * Whether the step forms queue device work only (no read-back, no allocation once the buffers
     * are sized), so that a step can be captured as a CUDA graph and replayed.
     */
    default boolean queuesOnly() {
        return false;
    }

    /** Grows whenever buffers a step's queued work reads were reallocated: a captured step is stale then. */
    default long bufferGeneration() {
        return 0;
    }

    /** The weights the optimizer updates, by name. */
    Map<String, Tensor> trainableParameters();

    /** Their gradients, under the same names. */
    Map<String, Tensor> trainableGradients();

    /** Whether a weight gets weight decay; HF's Trainer exempts biases and normalisation weights. */
    default boolean decays(String name) {
        return !name.endsWith(".bias") && !name.contains("norm");
    }

    /**
     * Metrics of the training forwards since the last call, logged on each step's line beside the loss
     * (a DPO run's {@code rewards/accuracies} and the other TRL names); empty for most tasks.
     */
    default Map<String, Double> stepMetrics() {
        return Map.of();
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

    /**
     * Rank {@code rank}'s part of {@link #save} into {@code dir} while all {@code ranks} ranks of a data-parallel
     * run save at once, each from its own replica: together they write what {@link #save} writes. What is
     * small and whole on every rank (an adapter) rank 0 writes alone; a model's weights are split among the
     * ranks, which write their files in parallel (under ZeRO 3 gathering each layer together).
     */
    void saveAsRank(Path dir, int rank, int ranks) throws IOException;

    /** Loads back what {@link #save} wrote, for {@code --resume}. */
    void restore(Path dir) throws IOException;
}
