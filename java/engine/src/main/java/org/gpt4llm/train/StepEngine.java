package org.gpt4llm.train;

import java.util.List;
import java.util.function.Consumer;
import org.gpt4llm.model.Batch;
import org.gpt4llm.optim.AdamWOptimizer;

/**
 * What runs a {@link Trainer}'s optimizer steps: one device ({@link StepRunner}), or several
 * (data parallelism, {@code org.gpt4llm.train.parallel}). The trainer hands every step all of its
 * micro-batches, in order; how they are spread over devices is the engine's business.
 */
public interface StepEngine<B extends Batch> extends AutoCloseable {
    /**
     * One optimizer step over {@code micro} at learning rate {@code lr}, clipping at {@code gradClip}
     * (0: none), dropout masks from {@code dropoutSeed}; throws {@link TrainingDivergedException} when the
     * loss or the gradient norm is not finite (the update then changed nothing).
     */
    Trainer.Step step(List<B> micro, int step, double lr, double gradClip, long dropoutSeed);

    /**
     * Where this engine shards the optimizer state over devices: the whole state gathered onto the host
     * (into {@code host}) for a checkpoint; empty where the trainer's optimizer holds it.
     */
    default java.util.Optional<HostOptimizerState> gatherOptimizerState(java.lang.foreign.Arena host) {
        return java.util.Optional.empty();
    }

    /**
     * Where this engine shards the optimizer state: each device takes its shard of {@code state} (saved by
     * any number of devices, or by one); a no-op where the trainer's optimizer restored it.
     */
    default void restoreOptimizerState(HostOptimizerState state) {}

    /** What reads the trainer's model whole: a checkpoint's save, an evaluation. */
    interface WholeModelWork<T> {
        T run() throws java.io.IOException;
    }

    /**
     * Runs {@code work} where the trainer's model can be read whole: where its weights are sharded over
     * devices (ZeRO 3), they are gathered group by group as it reads them, the other devices taking part
     * meanwhile. At once by default.
     */
    default <T> T withWholeModel(WholeModelWork<T> work) throws java.io.IOException {
        return work.run();
    }

    /** Whether the engine keeps the optimizer state itself ({@link #gatherOptimizerState} is not empty). */
    default boolean shardsOptimizer() {
        return false;
    }

    @Override
    void close();

    /** Makes a run's optimizer and its step engine. */
    interface Factory<B extends Batch> {
        /**
         * The optimizer the trainer checkpoints and restores, over {@code model}'s trainable parameters
         * (where the optimizer state is sharded over devices, the part a checkpoint holds); {@code offload}:
         * its state in host memory ({@code --offload-optimizer}, see {@link Trainer#optimizer(TrainableModel, double, boolean)}).
         */
        AdamWOptimizer optimizer(TrainableModel<B> model, double weightDecay, boolean offload);

        /** The engine of the run's steps, updating {@code model} with {@code opt} (restored by then, on a resume). */
        StepEngine<B> open(TrainableModel<B> model, AdamWOptimizer opt, boolean cudaGraph, Consumer<String> notes);

        /** One device: {@link StepRunner}. */
        static <B extends Batch> Factory<B> singleDevice() {
            return new Factory<>() {
                @Override
                public AdamWOptimizer optimizer(TrainableModel<B> model, double weightDecay, boolean offload) {
                    return Trainer.optimizer(model, weightDecay, offload);
                }

                @Override
                public StepEngine<B> open(TrainableModel<B> model, AdamWOptimizer opt, boolean cudaGraph,
                                         Consumer<String> notes) {
                    return new StepRunner<>(model, opt, cudaGraph, notes);
                }
            };
        }
    }
}
