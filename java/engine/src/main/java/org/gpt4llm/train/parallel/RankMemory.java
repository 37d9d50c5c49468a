package org.gpt4llm.train.parallel;

import java.lang.foreign.Arena;
import java.util.Map;
import java.util.function.Predicate;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.distributed.MeteredCommunicator;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * What one rank of a {@link DataParallel} run allocates besides its replica of the model: its ZeRO
 * shard of the optimizer and the buffers its collectives pass through. {@link RankWorker} allocates
 * through these methods, and so does the memory planner on a backend that only counts, so a planned
 * rank is the measured one.
 */
public final class RankMemory {
    private RankMemory() {}

    /**
     * The flat buffers of one rank's collectives: a gradient bucket of {@code chunk}·ranks fp32 elements,
     * and at ZeRO 2 the rank's fp32 part of it, at ZeRO 1 and 2 the weights' part and bucket (ZeRO 3 moves
     * its groups through buffers of its own, {@link LayerShards}); plus the one fp32 scalar the ranks sum
     * their losses and norms through.
     */
    record Buffers(long chunk, Tensor scalar, Tensor gradBucket, Tensor gradPart, Tensor weightPart, Tensor weightBucket) {}

    static Buffers buffers(Backend be, Arena arena, FlatShards layout, int zero, DType weights, long bucketElements) {
        int n = layout.ranks;
        Tensor scalar = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, 1);
        // the collectives move the flat range through fixed buckets: memory of one bucket, not of all gradients
        long chunk = chunk(layout, bucketElements);
        // buckets are scratch the collectives pass through (the model's gradients and the optimizer's shards
        // are counted where they live)
        Tensor gradBucket = zero < 3 ? be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, chunk * n) : null;
        Tensor gradPart = zero == 2 ? be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, chunk) : null;
        boolean weightBuckets = zero == 1 || zero == 2;
        Tensor weightPart = weightBuckets ? be.allocate(arena, MemoryCategory.WORKSPACE, weights, chunk) : null;
        Tensor weightBucket = weightBuckets ? be.allocate(arena, MemoryCategory.WORKSPACE, weights, chunk * n) : null;
        return new Buffers(chunk, scalar, gradBucket, gradPart, weightPart, weightBucket);
    }

    /** Elements of each rank's shard one collective moves: a bucket holds one chunk of every rank's shard. */
    private static long chunk(FlatShards layout, long bucketElements) {
        return FlatShards.chunk(layout.shard, layout.ranks, bucketElements);
    }

    /**
     * The bytes one rank sends in a step of {@code ranks} ranks at ZeRO stage {@code zero} in which it runs
     * {@code microBatches} forward and backward passes, over {@code trainable} (the trainable weights) and,
     * under ZeRO 3, {@code decoder}'s weights (null below ZeRO 3), with buckets of {@code bucketElements}:
     * the collectives of {@link RankWorker#step}, counted as {@link MeteredCommunicator} counts them (a
     * ring's bytes). Below ZeRO 3 the ranks communicate once a step, after their last micro-batch, so
     * {@code microBatches} changes nothing; ZeRO 3 gathers and reduce-scatters by layer in every pass.
     * Only the tensors' shapes are read: {@link StepTraffic} has the formula.
     */
    public static long bytesSentPerStep(Map<String, Tensor> trainable, DecoderModel decoder, int ranks, int zero,
                                        long bucketElements, int microBatches) {
        StepTraffic.Sizes sizes = StepTraffic.Sizes.of(trainable, zero == 3 ? decoder : null);
        return StepTraffic.of(sizes, ranks, zero, bucketElements).perStep(microBatches);
    }

    /**
     * Allocates in {@code arena} the buffers rank's collectives use in a run of {@code ranks} ranks at ZeRO
     * stage {@code zero} over {@code params} (the trainable weights), with buckets of {@code bucketElements}.
     */
    public static void allocateBuffers(Backend be, Arena arena, Map<String, Tensor> params, int ranks, int zero,
                                       long bucketElements) {
        buffers(be, arena, new FlatShards(params, ranks), zero, params.values().iterator().next().dtype(), bucketElements);
    }

    /**
     * Rank {@code rank}'s optimizer under ZeRO 1 or 2: master weights and moments of its contiguous part
     * of the flat range of {@code params}, over the same part of {@code grads}; with {@code offload}, in
     * host memory with a host copy of that part of the gradients (see {@link AdamWOptimizer}).
     */
    public static AdamWOptimizer shardOptimizer(Backend be, Map<String, Tensor> params, Map<String, Tensor> grads,
                                                int ranks, int rank, Backend.AdamW hyper, Predicate<String> decays,
                                                boolean offload) {
        return shardOptimizer(be, new FlatShards(params, ranks), params, grads, rank, hyper, decays, offload);
    }

    static AdamWOptimizer shardOptimizer(Backend be, FlatShards layout, Map<String, Tensor> params,
                                         Map<String, Tensor> grads, int rank, Backend.AdamW hyper, Predicate<String> decays,
                                         boolean offload) {
        return new AdamWOptimizer(be, layout.slices(params, rank), layout.slices(grads, rank), hyper, decays, offload);
    }

    /**
     * A rank's optimizer under ZeRO 3: master weights and moments of its parts of the sharded weights
     * ({@code shards}), over its fp32 gradient shards, and of whatever else trains in {@code trainable}
     * (adapters, a value head: whole on every rank) over its gradient in {@code grads}; with {@code offload}, in
     * host memory with a host copy of those gradients (see {@link AdamWOptimizer}).
     */
    public static AdamWOptimizer zero3Optimizer(Backend be, LayerShards shards, Map<String, Tensor> trainable,
                                                Map<String, Tensor> grads, Backend.AdamW hyper, Predicate<String> decays,
                                                boolean offload) {
        Map<String, Tensor> params = new java.util.LinkedHashMap<>(), g = new java.util.LinkedHashMap<>(shards.shardGradients());
        if (!g.isEmpty()) params.putAll(shards.shardWeights());
        trainable.forEach((name, p) -> {
            if (shards.holds(name)) return;
            params.put(name, p);
            g.put(name, grads.get(name));
        });
        return new AdamWOptimizer(be, params, g, hyper, decays, offload);
    }
}
