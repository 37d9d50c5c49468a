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
        this.shard = Math.max(1, (total + ranks - 1) / ranks);
    }

    /** Elements of the padded flat buffer: ranks · shard. */
    long padded() {
        return shard * ranks;
    }

    /** Rank {@code rank}'s parts of {@code tensors} (those laid out here), by name; tensors it has no part of are left out. */
    Map<String, Tensor> slices(Map<String, Tensor> tensors, int rank) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        long from = rank * shard, to = from + shard;
        for (int i = 0; i < names.size(); i++) {
            long a = Math.max(from, offsets[i]), b = Math.min(to, offsets[i + 1]);
            if (a < b) out.put(names.get(i), slice(tensors.get(names.get(i)), a - offsets[i], b - a));
        }
        return out;
    }

    /** Copies every tensor into its place in {@code flat} (same dtype, {@link #padded} elements). */
    void pack(Backend be, Map<String, Tensor> tensors, Tensor flat) {
        for (int i = 0; i < names.size(); i++) {
            Tensor t = tensors.get(names.get(i));
            be.copy(slice(flat, offsets[i], t.numel()), flat(t));
        }
    }

    /** The inverse of {@link #pack}: every tensor from its place in {@code flat}. */
    void unpack(Backend be, Tensor flat, Map<String, Tensor> tensors) {
        for (int i = 0; i < names.size(); i++) {
            Tensor t = tensors.get(names.get(i));
            be.copy(flat(t), slice(flat, offsets[i], t.numel()));
        }
    }

    /** Rank {@code rank}'s parts of {@code tensors} into {@code part} ({@link #shard} elements, laid out as in the flat range). */
    void packShard(Backend be, Map<String, Tensor> tensors, int rank, Tensor part) {
        long from = rank * shard;
        for (var e : slices(tensors, rank).entrySet()) {
            long at = Math.max(from, offsetOf(e.getKey())) - from;
            be.copy(slice(part, at, e.getValue().numel()), e.getValue());
        }
    }

    /** The inverse of {@link #packShard}: rank {@code rank}'s parts of {@code tensors} from {@code part}. */
    void unpackShard(Backend be, Tensor part, Map<String, Tensor> tensors, int rank) {
        long from = rank * shard;
        for (var e : slices(tensors, rank).entrySet()) {
            long at = Math.max(from, offsetOf(e.getKey())) - from;
            be.copy(e.getValue(), slice(part, at, e.getValue().numel()));
        }
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
