package org.gpt4llm.train.parallel;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.Communicator.ReduceOp;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.Batch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.train.OptimizerShards;
import org.gpt4llm.train.OptimizerStateNames;
import org.gpt4llm.train.SavedOptimizerState;
import org.gpt4llm.train.StepEngine;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.TrainingDivergedException;

/**
 * One rank of a {@link DataParallel} run: its replica, its optimizer (whole, or its ZeRO shard), and the
 * flat buffers its collectives move. Every method runs on the rank's own thread.
 */
final class RankWorker<B extends Batch> implements AutoCloseable {
    /** What a step gave on every rank alike: the global loss sum and gradient norm. */
    record Result(double lossSum, double norm) {}

    private final TrainableModel<B> model;
    private final Backend be;
    final Communicator comm;
    private final int zero, rank;
    private final AdamWOptimizer opt;
    private final boolean ownsOptimizer;
    private boolean optimizerClosed;
    private final StepScalars scalars;
    private final Arena arena = Arena.ofShared();
    private final Map<String, Tensor> params, grads;
    private final FlatShards layout;
    private final long chunk;
    private final Tensor gradBucket, gradPart, weightPart, weightBucket, scalar;
    /** ZeRO 3: the decoder's weights sharded by layer, else null. */
    private final LayerShards shards;
    /** ZeRO 3: the gradients of what trains whole on every rank (adapters, a value head), summed over the ranks. */
    private final List<Tensor> replicatedGrads = new java.util.ArrayList<>();

    /** {@code trainersOptimizer}: rank 0's whole optimizer under ZeRO 0 (the one the trainer checkpoints), else null. */
    RankWorker(TrainableModel<B> model, Communicator comm, int zero, AdamWOptimizer trainersOptimizer, double weightDecay,
               long bucketElements, boolean offload) {
        this.model = model;
        this.be = model.backend();
        this.comm = comm;
        this.zero = zero;
        this.rank = comm.rank();
        this.params = model.trainableParameters();
        // ZeRO 3 streams the gradients through two layers' buffers: asked for now, they would all be allocated whole first
        this.grads = zero == 3 ? Map.of() : model.trainableGradients();
        this.layout = new FlatShards(params, comm.size());
        DType weights = params.values().iterator().next().dtype();
        for (var e : params.entrySet()) {
            if (e.getValue().dtype() != weights) {
                throw new IllegalArgumentException("data parallelism needs the trainable weights in one type: "
                        + e.getKey() + " is " + e.getValue().dtype() + ", not " + weights);
            }
        }
        RankMemory.Buffers buffers = RankMemory.buffers(be, arena, layout, zero, weights, bucketElements);
        this.scalar = buffers.scalar();
        this.chunk = buffers.chunk();
        this.gradBucket = buffers.gradBucket();
        this.gradPart = buffers.gradPart();
        this.weightPart = buffers.weightPart();
        this.weightBucket = buffers.weightBucket();

        // every replica starts from rank 0's weights (and, on a resume, its optimizer state)
        for (Tensor p : params.values()) comm.broadcast(p, 0);
        if (zero == 3) {
            var decoder = model.decoder();
            if (decoder == null) throw new IllegalArgumentException("--zero 3 shards a decoder's layers; this model has none");
            for (var e : decoder.parameters().entrySet()) if (!params.containsKey(e.getKey())) comm.broadcast(e.getValue(), 0);
            this.shards = new LayerShards(be, decoder, comm, rank, comm.size(), bucketElements);
            Map<String, Tensor> allGrads = model.trainableGradients();
            for (String name : params.keySet()) if (!shards.holds(name)) replicatedGrads.add(allGrads.get(name));
            this.opt = RankMemory.zero3Optimizer(be, shards, params, allGrads, Trainer.adamW(weightDecay), model::decays,
                    offload);
            this.ownsOptimizer = true;
        } else if (zero == 0) {
            this.shards = null;
            this.opt = trainersOptimizer != null ? trainersOptimizer : Trainer.optimizer(model, weightDecay);
            this.ownsOptimizer = trainersOptimizer == null;
            for (Tensor t : OptimizerStateNames.named(opt.moments(false), opt.moments(true), opt.masters()).values()) {
                comm.broadcast(t, 0);
            }
            be.upload(scalar, Tensor.of(arena, new float[] {rank == 0 ? opt.stepCount() : 0}, 1));
            comm.broadcast(scalar, 0);
            int steps = Math.round(be.download(scalar)[0]);
            opt.restored(steps, true);  // the count, and the weights from rank 0's masters; the state is in place
        } else {
            this.shards = null;
            this.opt = RankMemory.shardOptimizer(be, layout, params, grads, rank, Trainer.adamW(weightDecay), model::decays,
                    offload);
            this.ownsOptimizer = true;
        }
        this.scalars = be.stepScalars();
    }

    /**
     * This rank's part of a step: the forward and backward of {@code mine} (its share of the step's
     * micro-batches, each backward scaled by 1 / {@code targets}, the loss terms of the whole step), then
     * the communication and update of the ZeRO stage. {@code passes}: the most forward and backward passes
     * any rank runs in this step, which ZeRO 3 makes every rank take part in.
     */
    Result step(List<B> mine, long targets, int passes, int step, double lr, double gradClip, long dropoutSeed) {
        be.rangePush("step " + step + " rank " + rank);
        try {
            model.setTraining(true);
            model.setDropoutSeed(dropoutSeed);
            scalars.begin(targets == 0 ? 0f : (float) (1.0 / targets), dropoutSeed);
            opt.prepare(scalars, (float) lr);
            scalars.upload();
            model.stage(mine);
            model.zeroGrad();
            if (shards != null) {
                shards.releaseAll();
                shards.zeroGradients();
            }
            int ran = 0;
            for (int i = 0; i < mine.size(); i++) {
                B b = mine.get(i);
                if (b.lossTerms() == 0) continue;
                model.forward(b, i, scalars);
                model.backward(scalars);
                ran++;
            }
            for (; shards != null && ran < passes; ran++) shards.idlePass();
            double lossSum = sum(scalars.read().lossSum());

            be.rangePush("gradients");
            // ZeRO 3 reduce-scattered each layer's gradients as its backward completed them
            if (zero == 3) for (Tensor g : replicatedGrads) comm.allReduce(g, ReduceOp.SUM);
            else if (zero == 2) reduceScatterGradients();
            else allReduceGradients();
            be.rangePop();

            double norm;
            if (!Double.isFinite(lossSum)) {
                opt.cancel();
                throw diverged(step, "the training loss is " + lossSum / Math.max(1, targets));
            }
            if (zero == 0) {
                opt.update(scalars, (float) gradClip);
                norm = Math.sqrt(scalars.read().sumOfSquares());
                if (!Double.isFinite(norm)) {
                    opt.cancel();
                    throw diverged(step, "the gradient norm is " + norm);
                }
            } else {
                norm = Math.sqrt(sum(shardSumOfSquares()));
                if (!Double.isFinite(norm)) {
                    opt.cancel();
                    throw diverged(step, "the gradient norm is " + norm);
                }
                opt.update((float) lr, norm, (float) gradClip);
                if (zero < 3) {
                    // under ZeRO 3 the next forward gathers the updated shards layer by layer
                    be.rangePush("weights");
                    allGatherWeights();
                    be.rangePop();
                }
            }
            return new Result(lossSum, norm);
        } finally {
            be.rangePop();
        }
    }

    /**
     * This rank's term of the global sum of squares of the gradients: its shard's; under ZeRO 3 rank 0
     * also counts what every rank holds whole (the same on each), the others not.
     */
    private double shardSumOfSquares() {
        if (shards == null) return be.sumOfSquares(opt.gradients());
        List<Tensor> mine = new java.util.ArrayList<>(shards.shardGradients().values());
        if (rank == 0) mine.addAll(replicatedGrads);
        return mine.isEmpty() ? 0 : be.sumOfSquares(mine);
    }

    /** Every rank's gradients summed into every rank's, a bucket of the flat range at a time. */
    private void allReduceGradients() {
        long bucket = gradBucket.numel();
        for (long k = 0; k < layout.total; k += bucket) {
            long c = Math.min(bucket, layout.total - k);
            Tensor window = FlatShards.slice(gradBucket, 0, c);
            layout.gather(be, grads, k, c, window);
            comm.allReduce(window, ReduceOp.SUM);
            layout.scatter(be, window, k, c, grads);
        }
    }

    /**
     * The sums of this rank's shard of the gradients (the rest stay unsummed: no optimizer here reads
     * them), a chunk of every shard at a time: bucket part r is chunk k of rank r's shard.
     */
    private void reduceScatterGradients() {
        int n = comm.size();
        for (long k = 0; k < layout.shard; k += chunk) {
            long c = Math.min(chunk, layout.shard - k);
            Tensor send = FlatShards.slice(gradBucket, 0, c * n), mine = FlatShards.slice(gradPart, 0, c);
            for (int r = 0; r < n; r++) layout.gather(be, grads, r * layout.shard + k, c, FlatShards.slice(send, r * c, c));
            comm.reduceScatter(send, mine, ReduceOp.SUM);
            layout.scatter(be, mine, rank * layout.shard + k, c, grads);
        }
    }

    /** Every rank's updated shard of the weights into every rank's weights, a chunk of every shard at a time. */
    private void allGatherWeights() {
        int n = comm.size();
        for (long k = 0; k < layout.shard; k += chunk) {
            long c = Math.min(chunk, layout.shard - k);
            Tensor mine = FlatShards.slice(weightPart, 0, c), all = FlatShards.slice(weightBucket, 0, c * n);
            layout.gather(be, params, rank * layout.shard + k, c, mine);
            comm.allGather(mine, all);
            for (int r = 0; r < n; r++) layout.scatter(be, FlatShards.slice(all, r * c, c), r * layout.shard + k, c, params);
        }
    }

    /**
     * Rank {@code r}'s part of the optimizer state as a checkpoint holds it: the element range {@code [start,
     * count]} of each tensor, under its name in the checkpoint (moments, then masters): its slices of the
     * flat range under ZeRO 1 and 2, of each layer's group under ZeRO 3, where rank 0 also holds whole what
     * every rank holds whole (adapters, a value head). Every rank can tell every other's: the layout is the same.
     */
    Map<String, long[]> slicesOf(int r) {
        Map<String, long[]> byParam = new LinkedHashMap<>();
        if (shards == null) {
            byParam.putAll(layout.ranges(r));
        } else {
            byParam.putAll(shards.ranges(r));
            if (r == 0) params.forEach((name, p) -> {
                if (!shards.holds(name)) byParam.put(name, new long[] {0, p.numel()});
            });
        }
        Map<String, long[]> out = new LinkedHashMap<>();
        for (int kind = 0; kind < (keepsMasters() ? 3 : 2); kind++) {
            for (var e : byParam.entrySet()) out.put(keyOf(kind, e.getKey()), e.getValue());
        }
        return out;
    }

    /** Whether the optimizer keeps fp32 masters: of weights stored in a lower precision, and of every weight offloaded. */
    private boolean keepsMasters() {
        return opt.offloaded() || params.values().iterator().next().dtype() != DType.F32;
    }

    /** The checkpoint's name of a first moment (kind 0), a second moment (1) or a master (2) of parameter {@code name}. */
    private static String keyOf(int kind, String name) {
        return kind < 2 ? OptimizerStateNames.key(kind == 1, name) : OptimizerStateNames.MASTER + name;
    }

    /** The index of a checkpoint's optimizer files: every rank's {@link #slicesOf}, and the whole tensors' shapes. */
    OptimizerShards.Index index() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (int kind = 0; kind < (keepsMasters() ? 3 : 2); kind++) {
            for (var e : params.entrySet()) shapes.put(keyOf(kind, e.getKey()), e.getValue().shape());
        }
        List<OptimizerShards.Index.Rank> ranks = new java.util.ArrayList<>();
        for (int r = 0; r < comm.size(); r++) ranks.add(new OptimizerShards.Index.Rank(OptimizerShards.fileOf(r, comm.size()), slicesOf(r)));
        return new OptimizerShards.Index(OptimizerShards.FORMAT, comm.size(), zero, opt.stepCount(), shapes, ranks);
    }

    /** Writes this rank's file of its part of the optimizer state ({@link #slicesOf}) into checkpoint folder {@code dir}. */
    void writeShard(Path dir) {
        Map<String, Tensor> mine = OptimizerStateNames.named(opt.moments(false), opt.moments(true), opt.masters());
        try (Arena staging = Arena.ofConfined()) {
            Map<String, Tensor> host = new LinkedHashMap<>();
            for (var e : slicesOf(rank).entrySet()) {
                Tensor t = mine.get(e.getKey());
                if (t == null || t.numel() != e.getValue()[1]) {
                    throw new IllegalStateException("rank " + rank + "'s optimizer does not hold the " + e.getValue()[1]
                            + " elements of " + e.getKey() + " its layout gives it");
                }
                host.put(e.getKey(), opt.offloaded() ? t : be.toHost(t, staging));
            }
            OptimizerShards.writeRank(dir, rank, comm.size(), host, opt.stepCount());
        }
    }

    /**
     * This rank's part of writing checkpoint {@code save} into {@code runDir} (the run folder as this
     * process sees it): rank 0 creates the temp folder and hands its name to every rank; every rank writes
     * its part of the weights ({@link TrainableModel#saveAsRank}: under ZeRO 3 each layer gathered on every
     * rank, which copies only its own tensors) and its shard of the optimizer state; once all have (a
     * barrier), rank 0 writes the index and the trainer state and renames the folder into place, and a second
     * barrier tells every rank it did. A rank that fails aborts the communicator: the others' next collective
     * fails too, and the folder never becomes a checkpoint.
     */
    Path saveCheckpoint(StepEngine.ShardedSave save, Path runDir) throws IOException {
        Path tmp = runDir.resolve(broadcastName(rank == 0 ? save.begin().getFileName().toString() : ""));
        model.saveAsRank(tmp, rank, comm.size());
        writeShard(tmp);
        comm.barrier();
        Path done = rank == 0 ? save.commit(tmp, index()) : runDir.resolve(save.name());
        comm.barrier();
        return done;
    }

    /** Rank 0's {@code name} on every rank: its length, then its characters in one broadcast (fp32 holds a char exactly). */
    private String broadcastName(String name) {
        int n = Math.round(broadcastValue(name.length()));
        float[] chars = new float[n];
        if (rank == 0) for (int i = 0; i < n; i++) chars[i] = name.charAt(i);
        try (Arena host = Arena.ofConfined()) {
            Tensor onDevice = be.allocate(host, MemoryCategory.WORKSPACE, DType.F32, n);
            be.upload(onDevice, Tensor.of(host, chars, n));
            comm.broadcast(onDevice, 0);
            chars = be.download(onDevice);
        }
        StringBuilder b = new StringBuilder(n);
        for (float c : chars) b.append((char) Math.round(c));
        return b.toString();
    }

    private float broadcastValue(float mine) {
        try (Arena host = Arena.ofConfined()) {
            be.upload(scalar, Tensor.of(host, new float[] {mine}, 1));
        }
        comm.broadcast(scalar, 0);
        return be.download(scalar)[0];
    }

    /**
     * Takes this rank's shard of the saved {@code state} (written by any number of ranks, or by one): of
     * each moment and master, the range it holds, read from the files that hold it; and the update count.
     * A state without masters (written before they were saved) gives masters from the weights. A value
     * that is not finite is refused in one sentence naming the file, the tensor and the element.
     */
    void restoreShard(SavedOptimizerState state) {
        boolean withMasters = state.hasMasters();
        for (int kind = 0; kind < (withMasters ? 3 : 2); kind++) {
            Map<String, Tensor> mine = kind < 2 ? opt.moments(kind == 1) : opt.masters();
            for (var e : mine.entrySet()) {
                String name = e.getKey(), key = keyOf(kind, name);
                long[] shape = state.shape(key);
                if (shape == null) throw new IllegalArgumentException("the saved optimizer state has no " + key);
                if (Tensor.numel(shape) != params.get(name).numel()) {
                    throw new IllegalArgumentException("the saved optimizer state's " + key + " has " + Tensor.numel(shape)
                            + " elements, but parameter " + name + " has " + params.get(name).numel());
                }
                long start = shards == null ? layout.sliceStart(name, rank) : shards.holds(name) ? shards.sliceStart(name) : 0;
                state.copyInto(be, opt.offloaded(), key, start, e.getValue());
            }
        }
        opt.restored(state.step(), withMasters);
    }

    /** The sum over the ranks of one value of each (in fp32, as the step's own sums are). */
    private double sum(double mine) {
        be.upload(scalar, Tensor.of(arena, new float[] {(float) mine}, 1));
        comm.allReduce(scalar, ReduceOp.SUM);
        return be.download(scalar)[0];
    }

    private static TrainingDivergedException diverged(int step, String what) {
        return new TrainingDivergedException("step " + step + ": " + what);
    }

    /**
     * Runs {@code work} on rank 0 where it reads the weights whole: under ZeRO 3 the others must
     * {@link #serve} meanwhile; else at once.
     */
    <T> T lead(java.util.function.Supplier<T> work) {
        return shards == null ? work.get() : shards.lead(work);
    }

    /** Under ZeRO 3, on the ranks other than 0: their part in the gathers of rank 0's {@link #lead}. */
    void serve() {
        if (shards != null) shards.serve();
    }

    /**
     * Under ZeRO 3, when the run is over: the replica's whole weights back in its own memory (every rank at
     * once, each gather a collective), after its optimizer shard is freed, so the whole weights take the
     * place of what only training needed rather than adding to it.
     */
    void consolidate() {
        if (shards == null) return;
        closeOptimizer();
        shards.consolidate();
    }

    private void closeOptimizer() {
        if (ownsOptimizer && !optimizerClosed) opt.close();
        optimizerClosed = true;
    }

    @Override
    public void close() {
        scalars.close();
        closeOptimizer();
        if (shards != null) shards.close();
        arena.close();
    }
}
