package org.gpt4llm.train.parallel;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.Tensor;

/**
 * The trainable tensors laid end to end, in the model's order, as one flat range of {@code total}
 * elements cut into {@code ranks} contiguous shards of {@code shard} elements (the last one padded):
 * rank r owns [r·shard, (r+1)·shard). ZeRO shards the optimizer state (and gradients) this way, so a
 * rank's part of a tensor is a slice of it and the collectives move one contiguous buffer.
 */
final class FlatShards {
    private final List<String> names;
    private final long[] offsets;
    final long total, shard;
    final int ranks;

    FlatShards(Map<String, Tensor> tensors, int ranks) {
        this.names = List.copyOf(tensors.keySet());
        this.offsets = new long[names.size() + 1];
        for (int i = 0; i < names.size(); i++) offsets[i + 1] = offsets[i] + tensors.get(names.get(i)).numel();
        this.total = offsets[names.size()];
        this.ranks = ranks;
        this.shard = shard(total, ranks);
    }

    /** Elements of each of {@code ranks} shards of a flat range of {@code total} (the last one padded; at least one). */
    static long shard(long total, int ranks) {
        return Math.max(1, (total + ranks - 1) / ranks);
    }

    /**
     * Elements of each rank's shard of {@code shard} one collective moves: a bucket of {@code bucketElements}
     * holds one chunk of every rank's shard.
     */
    static long chunk(long shard, int ranks, long bucketElements) {
        return Math.max(1, Math.min(bucketElements / ranks, shard));
    }

    /** Rank {@code rank}'s parts of {@code tensors} (those laid out here), by name; tensors it has no part of are left out. */
    Map<String, Tensor> slices(Map<String, Tensor> tensors, int rank) {
        return partsOf(rank, (name, inTensor, inShard, count) -> slice(tensors.get(name), inTensor, count));
    }

    /**
     * Rank {@code rank}'s parts of the tensors laid out here as slices of {@code shard} (that rank's
     * {@link #shard} elements of the flat range), by name; tensors it has no part of are left out.
     */
    Map<String, Tensor> parts(Tensor shard, int rank) {
        return partsOf(rank, (name, inTensor, inShard, count) -> slice(shard, inShard, count));
    }

    /** The element range {@code [start, count]} of each tensor rank {@code rank} holds some of, by name. */
    Map<String, long[]> ranges(int rank) {
        return partsOf(rank, (name, inTensor, inShard, count) -> new long[] {inTensor, count});
    }

    private interface Part<T> {
        T of(String name, long inTensor, long inShard, long count);
    }

    /** {@code part} of each tensor rank {@code rank} holds some of: where it starts in the tensor and in the shard, and how long. */
    private <T> Map<String, T> partsOf(int rank, Part<T> part) {
        Map<String, T> out = new LinkedHashMap<>();
        long from = rank * shard, to = from + shard;
        for (int i = 0; i < names.size(); i++) {
            long a = Math.max(from, offsets[i]), b = Math.min(to, offsets[i + 1]);
            if (a < b) out.put(names.get(i), part.of(names.get(i), a - offsets[i], a - from, b - a));
        }
        return out;
    }

    /**
     * Copies elements [from, from+count) of the flat range into {@code dst}[0, count); of a window that
     * reaches past the last tensor, the rest of {@code dst} is left as it was (padding, which no tensor reads).
     */
    void gather(Backend be, Map<String, Tensor> tensors, long from, long count, Tensor dst) {
        for (int i = 0; i < names.size(); i++) {
            long a = Math.max(from, offsets[i]), b = Math.min(from + count, offsets[i + 1]);
            if (a < b) be.copy(slice(dst, a - from, b - a), slice(flat(tensors.get(names.get(i))), a - offsets[i], b - a));
        }
    }

    /** The inverse of {@link #gather}: elements [from, from+count) of the flat range from {@code src}[0, count). */
    void scatter(Backend be, Tensor src, long from, long count, Map<String, Tensor> tensors) {
        for (int i = 0; i < names.size(); i++) {
            long a = Math.max(from, offsets[i]), b = Math.min(from + count, offsets[i + 1]);
            if (a < b) be.copy(slice(flat(tensors.get(names.get(i))), a - offsets[i], b - a), slice(src, a - from, b - a));
        }
    }

    /** Tensor {@code name} of shape {@code shape} where it lies in {@code flat}, the whole flat range, sharing its memory. */
    Tensor place(Tensor flat, String name, long... shape) {
        int i = names.indexOf(name);
        return slice(flat, offsets[i], offsets[i + 1] - offsets[i]).view(shape);
    }

    /** The names laid out here, in order. */
    List<String> names() {
        return names;
    }

    /** Where rank {@code rank}'s part of tensor {@code name} starts in that tensor (row-major). */
    long sliceStart(String name, int rank) {
        return Math.max(rank * shard, offsetOf(name)) - offsetOf(name);
    }

    private long offsetOf(String name) {
        return offsets[names.indexOf(name)];
    }

    private static Tensor flat(Tensor t) {
        return t.view(t.numel());
    }

    /** Elements [from, from+count) of {@code t} in row-major order, sharing its memory. */
    static Tensor slice(Tensor t, long from, long count) {
        long b = t.dtype().bytes();
        return Tensor.wrap(t.data().asSlice(from * b, count * b), t.dtype(), count);
    }
}
