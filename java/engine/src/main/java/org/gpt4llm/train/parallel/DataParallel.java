package org.gpt4llm.train.parallel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.distributed.InProcessGroup;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.model.Batch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.train.SavedOptimizerState;
import org.gpt4llm.train.StepEngine;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.TrainingDivergedException;

/**
 * Data-parallel steps over several devices driven from this process, one thread per device, each with
 * its own replica of the model (on its own backend) and its own rank of a {@link Communicator}.
 *
 * <p>The trainer hands every step all of its micro-batches (the global batch, {@code --batch}); rank r of
 * N takes the contiguous r-th N-th of them, so N devices together read exactly the rows one device would,
 * and each backward is scaled by 1 / (loss terms of the whole step), as on one device. Gradients are
 * communicated once per step, after the last micro-batch. The ZeRO stage decides what is communicated:
 * <ul>
 * <li>0: the gradients are summed on every rank (all-reduce); every rank holds the whole optimizer and
 *     makes the same update;
 * <li>1: the same all-reduce, but rank r's optimizer holds only its contiguous shard of the flat
 *     parameter range (its fp32 masters and moments), updates that shard, and the updated weights are
 *     all-gathered;
 * <li>2: as 1, but the gradients are reduce-scattered, each rank receiving the sums of its shard only;
 * <li>3: as 2, and the weights are sharded too, by layer ({@link LayerShards}): each layer is all-gathered
 *     just before its forward and its backward and given back after, its gradients reduce-scattered as
 *     soon as its backward is done; a checkpoint or an evaluation gathers them the same way, layer by
 *     layer. What trains outside the decoder's weights (LoRA adapters, a reward model's head) stays whole
 *     on every rank, its gradients all-reduced.
 * </ul>
 * The loss is the global mean (the ranks' loss sums all-reduced); the gradient norm is global (the
 * ranks' sums of squares of their shards all-reduced). Under ZeRO 1, 2 and 3 each rank writes its own
 * shard of a checkpoint's optimizer state (moments and fp32 masters) into a file of its own, nothing
 * gathered, and a resume reads the ranges each rank holds from whichever files hold them, so a run resumes
 * on any number of devices ({@link org.gpt4llm.train.OptimizerShards}); each rank also writes its part of
 * the weights, one file of an HF sharded checkpoint (under ZeRO 3 from the layers gathered on every rank).
 * With {@code --offload-optimizer} (ZeRO 1, 2 and 3) each rank's shard of the masters and moments lives in
 * host memory and updates on the CPU, as one device's offloaded optimizer does; the gradients stay on the
 * devices, where the collectives sum them (under ZeRO 3 into each rank's fp32 gradient shard).
 */
public final class DataParallel<B extends Batch> implements StepEngine.Factory<B> {
    /**
     * How long a rank waits in a collective for the others before it names the ones that never came: as
     * PyTorch's default, long enough for a slow step of a large model (a rank that fails ends the others'
     * waits at once, whatever this is).
     */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(30);
    /** Elements of the flat range each collective moves at most: 32 Mi (128 MiB of fp32 gradients). */
    public static final long DEFAULT_BUCKET = 1L << 25;

    private final List<? extends TrainableModel<B>> replicas;
    private final List<Communicator> comms;
    private final int zero;
    private final long bucketElements;
    private double weightDecay;
    private boolean offload;
    private Path sharedRun;

    /**
     * This process's devices: {@code replicas.get(i)} moves tensors through {@code comms.get(i)}, whose
     * rank and size place it in the job (all ranks in this process, or some of them with several nodes);
     * replica 0 is the model the trainer checkpoints and evaluates. {@code zero} is the ZeRO stage 0, 1, 2 or 3.
     */
    public DataParallel(List<? extends TrainableModel<B>> replicas, List<Communicator> comms, int zero) {
        this(replicas, comms, zero, DEFAULT_BUCKET);
    }

    /**
     * As above, moving the flat range in buckets of {@code bucketElements} (what each device keeps for the
     * collectives, in place of a second copy of all gradients).
     */
    public DataParallel(List<? extends TrainableModel<B>> replicas, List<Communicator> comms, int zero,
                        long bucketElements) {
        if (bucketElements < 1) throw new IllegalArgumentException("a bucket needs at least one element, got " + bucketElements);
        this.bucketElements = bucketElements;
        if (replicas.isEmpty() || replicas.size() != comms.size()) {
            throw new IllegalArgumentException(replicas.size() + " replicas for " + comms.size() + " ranks");
        }
        requireStage(zero);
        this.replicas = List.copyOf(replicas);
        this.comms = List.copyOf(comms);
        this.zero = zero;
    }

    /** {@code replicas} as ranks of one {@link InProcessGroup} (each on its own backend), waiting at most {@code timeout}. */
    public static <B extends Batch> DataParallel<B> inProcess(List<? extends TrainableModel<B>> replicas, int zero,
                                                              Duration timeout) {
        return inProcess(replicas, zero, timeout, DEFAULT_BUCKET);
    }

    /** {@link #inProcess(List, int, Duration)} with buckets of {@code bucketElements}. */
    public static <B extends Batch> DataParallel<B> inProcess(List<? extends TrainableModel<B>> replicas, int zero,
                                                              Duration timeout, long bucketElements) {
        List<Backend> bes = replicas.stream().map(TrainableModel::backend).toList();
        return new DataParallel<>(replicas, InProcessGroup.create(bes, timeout), zero, bucketElements);
    }

    /** Refuses a ZeRO stage that is not 0, 1, 2 or 3, in one sentence. */
    public static void requireStage(int zero) {
        if (zero < 0 || zero > 3) throw new IllegalArgumentException("--zero must be 0, 1, 2 or 3, got " + zero);
    }

    /**
     * Refuses {@code --offload-optimizer} on several devices under ZeRO 0, in one sentence: every device's host
     * would keep a whole copy of the optimizer.
     */
    public static void checkOffload(boolean offload, int zero) {
        if (offload && zero == 0) {
            throw new IllegalArgumentException("--offload-optimizer with several devices needs --zero 1, 2 or 3 (each"
                    + " device's optimizer shard then lives in host memory), not --zero 0: use --zero 1, or leave out"
                    + " --offload-optimizer");
        }
    }

    /**
     * With several nodes, on a node other than 0, whose trainer writes a scratch folder of its own:
     * {@code runDir} is the run folder ({@code --out}) as this node sees it, on a filesystem every node
     * shares, where this node's ranks write their shards of each checkpoint. Returns this.
     */
    public DataParallel<B> sharedRun(Path runDir) {
        this.sharedRun = runDir;
        return this;
    }

    @Override
    public AdamWOptimizer optimizer(TrainableModel<B> model, double weightDecay, boolean offload) {
        checkOffload(offload, zero);
        this.weightDecay = weightDecay;
        this.offload = offload;
        if (zero == 0) return Trainer.optimizer(model, weightDecay);
        // the state is sharded over the ranks' own optimizers: the trainer's holds none
        return new AdamWOptimizer(model.backend(), Map.of(), Map.of(), Backend.AdamW.DEFAULT);
    }

    @Override
    public StepEngine<B> open(TrainableModel<B> model, AdamWOptimizer opt, boolean cudaGraph, Consumer<String> notes) {
        if (model != replicas.get(0)) throw new IllegalArgumentException("the trainer's model is not replica 0");
        if (cudaGraph) notes.accept("--cuda-graph: steps over several devices run without a graph");
        return new Engine<>(replicas, comms, zero, opt, weightDecay, bucketElements, offload, sharedRun);
    }

    /** The ranks' threads and state while a run lasts. */
    private static final class Engine<B extends Batch> implements StepEngine<B> {
        private final List<RankWorker<B>> workers = new ArrayList<>();
        private final List<ExecutorService> threads = new ArrayList<>();
        private final List<Communicator> comms;
        private final int zero;
        private final Path sharedRun;
        /** Whether a rank failed: its communicator is aborted, so no collective can run any more. */
        private boolean failed;

        Engine(List<? extends TrainableModel<B>> replicas, List<Communicator> comms, int zero, AdamWOptimizer opt0,
               double weightDecay, long bucketElements, boolean offload, Path sharedRun) {
            this.comms = comms;
            this.zero = zero;
            this.sharedRun = sharedRun;
            int n = replicas.size();
            for (int r = 0; r < n; r++) {
                int rank = r;
                threads.add(Executors.newSingleThreadExecutor(task -> {
                    Thread t = new Thread(task, "gpt4llm-rank-" + rank);
                    t.setDaemon(true);
                    return t;
                }));
            }
            try {
                List<RankWorker<B>> made = onEveryRank(r -> new RankWorker<>(replicas.get(r), comms.get(r), zero,
                        r == 0 ? opt0 : null, weightDecay, bucketElements, offload), -1);
                workers.addAll(made);
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public Trainer.Step step(List<B> micro, int step, double lr, double gradClip, long dropoutSeed) {
            long t0 = System.nanoTime(), tokens = 0, targets = 0;
            for (B b : micro) {
                targets += b.lossTerms();
                tokens += b.tokenCount();
            }
            long allTargets = targets;
            int n = comms.get(0).size(), passes = 0;
            for (int g = 0; g < n; g++) {
                passes = Math.max(passes, (int) share(micro, g, n).stream().filter(b -> b.lossTerms() > 0).count());
            }
            int mostPasses = passes;
            List<RankWorker.Result> results = onEveryRank(r -> workers.get(r).step(share(micro, comms.get(r).rank(), n),
                    allTargets, mostPasses, step, lr, gradClip, dropoutSeed), step);
            RankWorker.Result r0 = results.get(0);
            double loss = targets == 0 ? 0 : r0.lossSum() / targets;
            return new Trainer.Step(step, loss, r0.norm(), tokens, lr, (System.nanoTime() - t0) / 1e9);
        }

        /** Global rank g's share of the step's micro-batches: with several nodes, this process's devices are some of the ranks. */
        private static <B> List<B> share(List<B> micro, int g, int n) {
            return micro.subList(g * micro.size() / n, (g + 1) * micro.size() / n);
        }

        private interface RankTask<T> {
            T run(int rank);
        }

        /**
         * Runs {@code task} on every rank's thread and waits for all. A rank that fails aborts its
         * communicator, so the others' collectives end at once; the failure is then reported as one
         * sentence naming the first rank that failed of its own accord (not because another did).
         */
        private <T> List<T> onEveryRank(RankTask<T> task, int step) {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < threads.size(); r++) {
                int rank = r;
                futures.add(threads.get(r).submit(() -> {
                    try {
                        return task.run(rank);
                    } catch (Throwable t) {
                        if (!(t instanceof CommunicatorException)) comms.get(rank).abort(t);
                        throw t;
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            Throwable[] errors = new Throwable[futures.size()];
            for (int r = 0; r < futures.size(); r++) {
                try {
                    out.add(futures.get(r).get());
                } catch (ExecutionException e) {
                    failed = true;
                    errors[r] = e.getCause();
                } catch (InterruptedException e) {
                    failed = true;
                    Thread.currentThread().interrupt();
                    throw new CommunicatorException("interrupted while waiting for the ranks", e);
                }
            }
            for (int r = 0; r < errors.length; r++) {
                Throwable e = errors[r];
                if (e == null || e instanceof CommunicatorException) continue;
                if (e instanceof TrainingDivergedException d) throw d;  // every rank saw the same global values
                if (e instanceof CheckpointException c) throw c;  // names the file and the tensor already
                String where = step < 0 ? "while starting" : "in step " + step;
                throw new CommunicatorException("rank " + comms.get(r).rank() + " failed " + where + ": " + e.getClass().getSimpleName()
                        + (e.getMessage() == null ? "" : ": " + e.getMessage()), e);
            }
            for (Throwable e : errors) if (e != null) throw (CommunicatorException) e;
            return out;
        }

        @Override
        public <T> T withWholeModel(WholeModelWork<T> work) throws IOException {
            if (zero < 3) return work.run();
            try {
                List<T> out = onEveryRank(r -> {
                    if (r > 0) {
                        workers.get(r).serve();
                        return null;
                    }
                    return workers.get(0).lead(() -> {
                        try {
                            return work.run();
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    });
                }, -1);
                return out.get(0);
            } catch (CommunicatorException e) {
                throw workFailure(e);
            }
        }

        @Override
        public boolean shardsOptimizer() {
            return zero > 0;
        }

        @Override
        public void restoreOptimizerState(SavedOptimizerState state) {
            if (zero == 0) return;
            onEveryRank(r -> {
                workers.get(r).restoreShard(state);
                return null;
            }, -1);
        }

        @Override
        public Path saveSharded(ShardedSave save) throws IOException {
            if (zero == 0) throw new UnsupportedOperationException("under ZeRO 0 the trainer's optimizer holds the state");
            Path run = sharedRun != null ? sharedRun : save.runDir();
            try {
                return onEveryRank(r -> {
                    try {
                        return workers.get(r).saveCheckpoint(save, run);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }, -1).get(0);
            } catch (CommunicatorException e) {
                throw workFailure(e);
            }
        }

        /**
         * The failure of work the ranks did for the trainer (a save that could not write), not a rank's, as it
         * was thrown; else {@code e}, the rank's.
         */
        private static IOException workFailure(CommunicatorException e) throws IOException {
            if (e.getCause() instanceof UncheckedIOException io) throw io.getCause();
            if (e.getCause() instanceof RuntimeException re && !(re instanceof CommunicatorException)) throw re;
            throw e;
        }

        /**
         * Under ZeRO 3 every replica first takes its whole weights back (gathered group by group, as FSDP and
         * DeepSpeed consolidate a model after training), so the models decode, save and train again once
         * the run is over; a run whose ranks failed has nothing to gather them with, and its models stay unreadable.
         */
        @Override
        public void close() {
            try {
                if (zero == 3 && !failed && workers.size() == threads.size()) {
                    onEveryRank(r -> {
                        workers.get(r).consolidate();
                        return null;
                    }, -1);
                }
            } finally {
                for (RankWorker<B> w : workers) w.close();
                for (ExecutorService t : threads) t.shutdownNow();
            }
        }
    }
}
