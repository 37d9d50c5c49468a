package org.gpt4llm.train.parallel;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.train.HostOptimizerState;
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
 * ranks' sums of squares of their shards all-reduced). Under ZeRO 1 and 2 a checkpoint gathers the
 * shards (moments and fp32 masters) into the whole state on the host, and a resume re-shards it, so
 * checkpoints are those of one device (ZeRO 3 writes its weights gathered too). With {@code --offload-optimizer}
 * (ZeRO 1 and 2) each rank's shard of the masters and moments lives in host memory and updates on the CPU,
 * as one device's offloaded optimizer does; the gradients stay on the devices, where the collectives sum them.
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
     * Refuses {@code --offload-optimizer} on several devices outside ZeRO 1 and 2, in one sentence: under ZeRO 0
     * every device's host would keep a whole copy of the optimizer; ZeRO 3's layer-sharded optimizer updates on the devices.
     */
    public static void checkOffload(boolean offload, int zero) {
        if (offload && (zero == 0 || zero == 3)) {
            throw new IllegalArgumentException("--offload-optimizer with several devices needs --zero 1 or 2 (each"
                    + " device's optimizer shard then lives in host memory), not --zero " + zero
                    + ": use --zero " + (zero == 0 ? 1 : 2) + ", or leave out --offload-optimizer");
        }
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
        return new Engine<>(replicas, comms, zero, opt, weightDecay, bucketElements, offload);
    }

    /** The ranks' threads and state while a run lasts. */
    private static final class Engine<B extends Batch> implements StepEngine<B> {
        private final List<RankWorker<B>> workers = new ArrayList<>();
        private final List<ExecutorService> threads = new ArrayList<>();
        private final List<Communicator> comms;
        private final int zero;
        private final TrainableModel<B> model0;
        /** Whether a rank failed: its communicator is aborted, so no collective can run any more. */
        private boolean failed;

        Engine(List<? extends TrainableModel<B>> replicas, List<Communicator> comms, int zero, AdamWOptimizer opt0,
               double weightDecay, long bucketElements, boolean offload) {
            this.comms = comms;
            this.zero = zero;
            this.model0 = replicas.get(0);
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
        public <T> T withWholeModel(WholeModelWork<T> work) throws java.io.IOException {
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
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    });
                }, -1);
                return out.get(0);
            } catch (CommunicatorException e) {
                // the work's own failure (a save that could not write), not a rank's
                if (e.getCause() instanceof java.io.UncheckedIOException io) throw io.getCause();
                if (e.getCause() instanceof RuntimeException re && !(re instanceof CommunicatorException)) throw re;
                throw e;
            }
        }

        @Override
        public boolean shardsOptimizer() {
            return zero > 0;
        }

        @Override
        public Optional<HostOptimizerState> gatherOptimizerState(Arena host) {
            if (zero == 0) return Optional.empty();
            if (comms.get(0).size() != workers.size()) {
                throw new IllegalStateException("--zero " + zero + " checkpoints gather the optimizer shards of this"
                        + " process's devices; with several nodes they are not supported yet");
            }
            // the layout of one device's optimizer: masters of the weights stored in a lower precision
            Map<String, Tensor> m = new LinkedHashMap<>(), v = new LinkedHashMap<>(), masters = new LinkedHashMap<>();
            for (var e : model0.trainableParameters().entrySet()) {
                m.put(e.getKey(), Tensor.allocate(host, DType.F32, e.getValue().shape()));
                v.put(e.getKey(), Tensor.allocate(host, DType.F32, e.getValue().shape()));
                if (e.getValue().dtype() != DType.F32) masters.put(e.getKey(), Tensor.allocate(host, DType.F32, e.getValue().shape()));
            }
            onEveryRank(r -> {
                workers.get(r).copyShardTo(HostOptimizerState.of(0, m, v, masters));
                return null;
            }, -1);
            return Optional.of(HostOptimizerState.of(workers.get(0).updates(), m, v, masters));
        }

        @Override
        public void restoreOptimizerState(HostOptimizerState state) {
            if (zero == 0) return;
            onEveryRank(r -> {
                workers.get(r).restoreShard(state);
                return null;
            }, -1);
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
