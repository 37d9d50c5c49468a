package org.gpt4llm.optim;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * An offloaded optimizer's gradients on their way to the host sums, layer by layer as the backward
 * completes them, without the backward waiting for the copies. A unit (a decoder layer's gradients
 * together, or one gradient outside the layers) is copied into one of two page-locked staging buffers,
 * taking turns, beside the compute work ({@link Backend#downloadAndZeroBehind}, which also zeroes the
 * device's buffers). When the next unit has been queued, the one before is finished: the compute work
 * queued from then on waits for its copy on the device (the backward of the next layer but one, which
 * reuses its gradient buffers, comes after), and the host waits for it and adds it into the sums, while
 * the device goes on with the backward. The last unit of a backward orders the compute work at once
 * (the next micro-batch writes every buffer again) and is added when the next unit is queued or the
 * sums are read ({@link #finish}).
 */
final class HostGradientStream {
    /** The gradients copied together, their host sums, and where each lies in a staging buffer (elements). */
    private record Unit(List<Tensor> grads, List<Tensor> sums, long[] offsets, long elements) {}

    /** A unit whose copy is queued and not yet added on the host. */
    private static final class InFlight {
        final Unit unit;
        final List<Tensor> staged;
        final Backend.HostCopy copy;
        boolean computeOrdered;

        InFlight(Unit unit, List<Tensor> staged, Backend.HostCopy copy) {
            this.unit = unit;
            this.staged = staged;
            this.copy = copy;
        }
    }

    private final Backend backend;
    private final Map<Integer, List<Unit>> byLayer = new LinkedHashMap<>();
    private final Tensor[] staging = new Tensor[2];
    private int turn;
    private InFlight last;

    /**
     * {@code layers.get(i)}: the decoder layer of {@code grads.get(i)} (-1 outside the layers), summed on
     * the host into {@code sums.get(i)}. The two staging buffers, each sized for the largest unit, are
     * allocated in {@code arena} as host workspace.
     */
    HostGradientStream(Backend backend, Arena arena, List<Integer> layers, List<Tensor> grads, List<Tensor> sums) {
        this.backend = backend;
        Map<Integer, List<Integer>> members = new LinkedHashMap<>();
        for (int i = 0; i < grads.size(); i++) {
            int layer = layers.get(i);
            if (layer >= 0) members.computeIfAbsent(layer, k -> new ArrayList<>()).add(i);
            else byLayer.computeIfAbsent(layer, k -> new ArrayList<>()).add(unit(List.of(i), grads, sums));
        }
        members.forEach((layer, of) -> byLayer.put(layer, List.of(unit(of, grads, sums))));
        long largest = byLayer.values().stream().flatMap(List::stream).mapToLong(Unit::elements).max().orElse(1);
        for (int b = 0; b < staging.length; b++) {
            staging[b] = backend.allocateHost(arena, MemoryCategory.WORKSPACE, DType.F32, Math.max(1, largest));
        }
    }

    private static Unit unit(List<Integer> of, List<Tensor> grads, List<Tensor> sums) {
        List<Tensor> g = new ArrayList<>(), s = new ArrayList<>();
        long[] offsets = new long[of.size()];
        long at = 0;
        for (int k = 0; k < of.size(); k++) {
            g.add(grads.get(of.get(k)));
            s.add(sums.get(of.get(k)));
            offsets[k] = at;
            at += grads.get(of.get(k)).numel();
        }
        return new Unit(List.copyOf(g), List.copyOf(s), offsets, at);
    }

    /** The backward completed the gradients of decoder layer {@code layer} (-1: of every parameter outside the layers). */
    void layerDone(int layer) {
        for (Unit u : byLayer.getOrDefault(layer, List.of())) queue(u);
        if (layer < 0 && last != null) orderCompute(last);
    }

    private void queue(Unit u) {
        Tensor buffer = staging[turn];
        turn ^= 1;
        List<Tensor> staged = new ArrayList<>(u.grads.size());
        for (int k = 0; k < u.grads.size(); k++) {
            Tensor g = u.grads.get(k);
            staged.add(Tensor.wrap(buffer.data().asSlice(u.offsets[k] * Float.BYTES, g.byteSize()), DType.F32, g.shape()));
        }
        Backend.HostCopy copy = backend.downloadAndZeroBehind(staged, u.grads);
        finish();  // the unit before: its staging buffer is the one the unit after this takes
        last = new InFlight(u, staged, copy);
    }

    private static void orderCompute(InFlight f) {
        if (f.computeOrdered) return;
        f.copy.orderCompute();
        f.computeOrdered = true;
    }

    /**
     * Before the staging buffers are freed: waits for a copy still under way, which writes into them, without
     * adding it; a failure here (the device already closed, or failed) is not reported, the work is over.
     */
    void abandon() {
        InFlight f = last;
        last = null;
        if (f == null) return;
        try (Backend.HostCopy copy = f.copy) {
            copy.await();
        } catch (RuntimeException ignored) {
            // a closed device took its memory and streams with it
        }
    }

    /** Adds the unit still in flight, if any, into its sums once its copy is done: before the host reads the sums. */
    void finish() {
        InFlight f = last;
        if (f == null) return;
        last = null;
        try (Backend.HostCopy copy = f.copy) {
            orderCompute(f);
            copy.await();
            for (int k = 0; k < f.staged.size(); k++) {
                Tensor sum = f.unit.sums.get(k), staged = f.staged.get(k);
                CpuKernels.add(sum.data(), sum.data(), staged.data(), staged.numel());
            }
        }
    }
}
