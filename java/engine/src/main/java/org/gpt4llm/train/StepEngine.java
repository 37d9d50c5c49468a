package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Path;
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
     * Where this engine shards the optimizer state: each device takes its shard of {@code state} (saved by
     * any number of devices, or by one), reading only the ranges it holds; a no-op where the trainer's
     * optimizer restored it.
     */
    default void restoreOptimizerState(SavedOptimizerState state) {}

    /**
     * A checkpoint being written by an engine that shards the optimizer state ({@link #saveSharded}): what
     * the process of rank 0, which writes the run folder, does at each stage. Only that process calls
     * {@link #begin} and {@link #commit}; every rank writes its part of the weights from its own replica
     * ({@link TrainableModel#saveAsRank}).
     */
    interface ShardedSave {
        /** The checkpoint's folder name ({@code checkpoint-STEP}). */
        String name();

        /** The run folder as this process sees it. */
        Path runDir();

        /** Creates the temp folder in the run folder that the checkpoint is written into. */
        Path begin() throws IOException;

        /** Once every rank has written its shard into {@code tmp}: writes {@code index} and the trainer state, then renames {@code tmp} into place. */
        Path commit(Path tmp, OptimizerShards.Index index) throws IOException;
    }

    /**
     * Where this engine shards the optimizer state: writes checkpoint {@code save} with every rank's shard
     * in a file of its own ({@link OptimizerShards}), the weights split among the ranks' files as an HF
     * sharded checkpoint, and returns its folder; a rank that
     * fails makes the save fail on every rank, and the temp folder never becomes a checkpoint.
     */
    default Path saveSharded(ShardedSave save) throws IOException {
        throw new UnsupportedOperationException("this engine keeps no optimizer state of its own");
    }

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

    /** Whether the engine keeps the optimizer state itself: its checkpoints are {@link #saveSharded}'s. */
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
