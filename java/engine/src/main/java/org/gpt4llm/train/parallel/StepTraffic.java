package org.gpt4llm.train.parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.gpt4llm.distributed.MeteredCommunicator;
import org.gpt4llm.model.DecoderLayout;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The bytes one rank of a {@link DataParallel} run sends in an optimizer step, counted as
 * {@link MeteredCommunicator} counts them (a ring's bytes), from the sizes of what its collectives move
 * alone: {@code oncePerStep} after the rank's last micro-batch, and {@code perMicroBatch} for every
 * forward and backward it runs (ZeRO 3's gathers and reduce-scatters by layer; 0 below ZeRO 3). Both the
 * runtime's figure ({@link RankMemory#bytesSentPerStep}) and the planner's come from {@link #of}.
 */
public record StepTraffic(long oncePerStep, long perMicroBatch) {
    /** What a rank that runs {@code microBatches} forward and backward passes in a step sends in it. */
    public long perStep(int microBatches) {
        return Math.addExact(oncePerStep, Math.multiplyExact(perMicroBatch, (long) microBatches));
    }

    /**
     * The sizes the collectives depend on: the elements of each trainable tensor in the model's order
     * ({@code trainable}) and the weights' element size; for ZeRO 3 also the elements of each group the
     * weights are sharded by ({@code groups}: each decoder layer, then the weights outside the layers,
     * trained or frozen), whether those train, and the elements of each trainable tensor outside them
     * ({@code replicated}: adapters, a value head).
     */
    public record Sizes(long[] trainable, long weightBytes, long[] groups, boolean groupsTrain, long[] replicated) {
        /**
         * The sizes of {@code trainable} (the trainable weights, all of one type) and, where {@code decoder}
         * is not null, of its weights grouped as {@link LayerShards} groups them; only shapes are read.
         */
        public static Sizes of(Map<String, Tensor> trainable, DecoderModel decoder) {
            if (trainable.isEmpty()) throw new IllegalArgumentException("data parallelism needs trainable weights; none train");
            long[] sizes = trainable.values().stream().mapToLong(Tensor::numel).toArray();
            long weightBytes = trainable.values().iterator().next().dtype().bytes();
            if (decoder == null) return new Sizes(sizes, weightBytes, new long[0], false, new long[0]);
            Map<String, Tensor> weights = decoder.parameters();
            int layers = decoder.config().numLayers();
            long[] groups = new long[layers + 1];
            weights.forEach((name, w) -> {
                int layer = DecoderLayout.layerOf(name);
                groups[layer < 0 ? layers : layer] += w.numel();
            });
            boolean groupsTrain = weights.keySet().stream().anyMatch(trainable::containsKey);
            List<Long> replicated = new ArrayList<>();
            trainable.forEach((name, t) -> {
                if (!weights.containsKey(name)) replicated.add(t.numel());
            });
            return new Sizes(sizes, weightBytes, groups, groupsTrain,
                    replicated.stream().mapToLong(Long::longValue).toArray());
        }
    }

    /**
     * What one of {@code ranks} ranks at ZeRO stage {@code zero} sends, with buckets of {@code bucketElements}:
     * the collectives of {@link RankWorker#step} and, under ZeRO 3, of {@link LayerShards} in a forward and
     * backward.
     */
    public static StepTraffic of(Sizes s, int ranks, int zero, long bucketElements) {
        DataParallel.requireStage(zero);
        long f32 = DType.F32.bytes();
        long scalar = MeteredCommunicator.allReduceBytes(f32, ranks);
        long once = scalar;  // the loss sum
        if (zero >= 1) once += scalar;  // the gradient norm's sum of squares
        if (zero == 3) return zero3(s, ranks, bucketElements, once);
        long total = 0;
        for (long n : s.trainable()) total += n;
        long shard = FlatShards.shard(total, ranks), chunk = FlatShards.chunk(shard, ranks, bucketElements);
        if (zero == 2) {
            once += bucketedGatherBytes(shard, chunk, ranks, f32);  // the gradients' reduce-scatter
        } else {
            for (long k = 0; k < total; k += chunk * ranks) {
                once += MeteredCommunicator.allReduceBytes(Math.min(chunk * ranks, total - k) * f32, ranks);
            }
        }
        if (zero >= 1) once += bucketedGatherBytes(shard, chunk, ranks, s.weightBytes());  // the updated weights
        return new StepTraffic(once, 0);
    }

    /**
     * ZeRO 3: in every forward and backward, each layer all-gathered twice (before its forward and before its
     * backward) and the weights outside the layers once, and, where they train, each group's gradients
     * reduce-scattered in buckets; once a step, the gradients of what every rank holds whole all-reduced
     * tensor by tensor.
     */
    private static StepTraffic zero3(Sizes s, int ranks, long bucketElements, long once) {
        long[] groups = s.groups();
        if (groups.length == 0) throw new IllegalArgumentException("--zero 3 shards a decoder's layers; this model has none");
        int layers = groups.length - 1;
        long largestShard = 0;
        for (long g : groups) largestShard = Math.max(largestShard, FlatShards.shard(g, ranks));
        long chunk = FlatShards.chunk(largestShard, ranks, bucketElements), f32 = DType.F32.bytes(), perPass = 0;
        for (int g = 0; g <= layers; g++) {
            long shard = FlatShards.shard(groups[g], ranks);
            perPass += (g < layers ? 2 : 1) * MeteredCommunicator.gatherBytes(shard * ranks * s.weightBytes(), ranks);
            if (s.groupsTrain()) perPass += bucketedGatherBytes(shard, chunk, ranks, f32);
        }
        for (long n : s.replicated()) once += MeteredCommunicator.allReduceBytes(n * f32, ranks);
        return new StepTraffic(once, perPass);
    }

    /** A reduce-scatter or all-gather of each rank's {@code shard} elements of {@code bytes} each, {@code chunk} of them a call. */
    private static long bucketedGatherBytes(long shard, long chunk, int ranks, long bytes) {
        long sent = 0;
        for (long k = 0; k < shard; k += chunk) {
            sent += MeteredCommunicator.gatherBytes(Math.min(chunk, shard - k) * ranks * bytes, ranks);
        }
        return sent;
    }
}
