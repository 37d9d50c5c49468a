package org.gpt4llm.train.parallel;

import java.lang.foreign.Arena;
import java.util.Map;
import java.util.function.Predicate;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.distributed.MeteredCommunicator;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderLayout;
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
     * and from ZeRO 2 the rank's fp32 part of it, from ZeRO 1 the weights' part and bucket; plus the one
     * fp32 scalar the ranks sum their losses and norms through.
     */
    record Buffers(long chunk, Tensor scalar, Tensor gradBucket, Tensor gradPart, Tensor weightPart, Tensor weightBucket) {}

    static Buffers buffers(Backend be, Arena arena, FlatShards layout, int zero, DType weights, long bucketElements) {
        int n = layout.ranks;
        Tensor scalar = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, 1);
        // the collectives move the flat range through fixed buckets: memory of one bucket, not of all gradients
        long chunk = chunk(layout, bucketElements);
        // buckets are scratch the collectives pass through (the model's gradients and the optimizer's shards
        // are counted where they live)
        Tensor gradBucket = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, chunk * n);
        Tensor gradPart = zero >= 2 ? be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, chunk) : null;
        Tensor weightPart = zero >= 1 ? be.allocate(arena, MemoryCategory.WORKSPACE, weights, chunk) : null;
        Tensor weightBucket = zero >= 1 ? be.allocate(arena, MemoryCategory.WORKSPACE, weights, chunk * n) : null;
        return new Buffers(chunk, scalar, gradBucket, gradPart, weightPart, weightBucket);
    }

    /** Elements of each rank's shard one collective moves: a bucket holds one chunk of every rank's shard. */
    private static long chunk(FlatShards layout, long bucketElements) {
        return Math.max(1, Math.min(bucketElements / layout.ranks, layout.shard));
    }

    /**
     * The bytes one rank sends in a step of {@code ranks} ranks at ZeRO stage {@code zero} (0 to 2) over
     * {@code params} (the trainable weights), with buckets of {@code bucketElements}: the collectives of
     * {@link RankWorker#step}, counted as {@link MeteredCommunicator} counts them (a ring's bytes).
     */
    public static long bytesSentPerStep(Map<String, Tensor> params, int ranks, int zero, long bucketElements) {
        FlatShards layout = new FlatShards(params, ranks);
        long chunk = chunk(layout, bucketElements), f32 = DType.F32.bytes();
        long weightBytes = params.values().iterator().next().dtype().bytes();
        long sent = MeteredCommunicator.allReduceBytes(f32, ranks);  // the loss sum
        if (zero >= 2) {
            for (long k = 0; k < layout.shard; k += chunk) {
                sent += MeteredCommunicator.gatherBytes(Math.min(chunk, layout.shard - k) * ranks * f32, ranks);
            }
        } else {
            for (long k = 0; k < layout.total; k += chunk * ranks) {
                sent += MeteredCommunicator.allReduceBytes(Math.min(chunk * ranks, layout.total - k) * f32, ranks);
            }
        }
        if (zero >= 1) {
            sent += MeteredCommunicator.allReduceBytes(f32, ranks);  // the gradient norm's sum of squares
            for (long k = 0; k < layout.shard; k += chunk) {
                sent += MeteredCommunicator.gatherBytes(Math.min(chunk, layout.shard - k) * ranks * weightBytes, ranks);
            }
        }
        return sent;
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
     * The device bytes of {@code tensors} (a model's weights, or its gradients) under ZeRO 3 on each of
     * {@code ranks} devices: the decoder layers' part sharded (1/ranks of it, rounded up), two layers
     * whole (weights: the layer computing and the next, prefetched; gradients: the layer the backward
     * fills and the one being reduce-scattered), and what lies outside the layers (embeddings, final
     * norm, head) whole on every device. Layers are the tensors named {@code layers.<i>.}.
     */
    public static long zero3BytesPerDevice(Map<String, Tensor> tensors, int ranks) {
        if (ranks < 1) throw new IllegalArgumentException("ZeRO 3 needs at least one device, got " + ranks);
        Map<Integer, Long> byLayer = new java.util.HashMap<>();
        long outside = 0;
        for (var e : tensors.entrySet()) {
            long bytes = e.getValue().byteSize();
            int layer = DecoderLayout.layerOf(e.getKey());
            if (layer >= 0) byLayer.merge(layer, bytes, Long::sum);
            else outside += bytes;
        }
        long layers = byLayer.values().stream().mapToLong(Long::longValue).sum();
        long largest = byLayer.values().stream().mapToLong(Long::longValue).max().orElse(0);
        long gathered = Math.min(2, byLayer.size()) * largest;
        return (layers + ranks - 1) / ranks + gathered + outside;
    }
}
