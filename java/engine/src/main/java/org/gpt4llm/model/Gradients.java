package org.gpt4llm.model;

import java.lang.foreign.Arena;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The fp32 gradient buffers of a model's parameters that train. A frozen parameter has none: no
 * buffer is allocated for it, and the backward skips its weight-gradient work. Buffers are allocated
 * when first asked for (a model that only runs forward never holds any), zeroed.
 *
 * <p>{@link #stream Streamed} (the gradients go to the host layer by layer as the backward completes
 * them), the decoder layers' gradients are views into a ring of {@value #RING_SLOTS} per-layer
 * buffers, layer l's in slot l % {@value #RING_SLOTS}, each slot holding one layer's trainable
 * gradients by name: the device keeps two layers' gradients, not every layer's. Whoever streams them
 * must take a layer's gradients and zero them before the backward reaches the next layer of its slot.
 * The parameters outside the layers (embeddings, final norm, head) keep buffers of their own.
 */
final class Gradients implements AutoCloseable {
    /** Layers whose gradients are on the device at once when they stream: the one the backward writes, the one leaving. */
    static final int RING_SLOTS = 2;
    /** Each view in a slot starts at a multiple of this many elements (256 bytes), as a buffer of its own would. */
    private static final long ALIGN = 64;
    private final Backend backend;
    private final Map<String, long[]> shapes;
    private final Set<String> frozen = new HashSet<>();
    private boolean streamed;
    private Arena arena;
    private Map<String, Tensor> grads;
    private long allocatedBytes;
    /** Counts the (re)allocations, so that work captured against older buffers is not replayed. */
    private long generation;

    /** Gradients for the parameters {@code shapes} names (in that order), none allocated yet. */
    Gradients(Backend backend, Map<String, long[]> shapes) {
        this.backend = backend;
        this.shapes = shapes;
    }

    /** Freezes the parameters {@code names}: their buffers, if any were allocated, are released. */
    void freeze(Collection<String> names) {
        for (String n : names) {
            if (!shapes.containsKey(n)) throw new IllegalArgumentException("no parameter " + n + " to freeze");
        }
        if (!frozen.addAll(names)) return;
        release();
    }

    /** Lets the parameters {@code names} train again (LoRA merged into them): buffers come on next use. */
    void unfreeze(Collection<String> names) {
        if (!frozen.removeAll(names)) return;
        release();
    }

    boolean frozen(String name) {
        return frozen.contains(name);
    }

    /** Lays the layers' gradients out in the ring ({@code on}) or in buffers of their own; the buffers come on next use. */
    void stream(boolean on) {
        if (streamed == on) return;
        streamed = on;
        release();
    }

    boolean streamed() {
        return streamed;
    }

    /** The buffers of every parameter that trains, by name (allocated now if they were not). */
    Map<String, Tensor> all() {
        if (grads == null) {
            arena = Arena.ofShared();
            allocatedBytes = 0;
            Ring layout = ringLayout();
            Tensor[] ring = new Tensor[RING_SLOTS];
            Map<String, Tensor> g = new LinkedHashMap<>();
            shapes.forEach((name, shape) -> {
                if (frozen.contains(name)) return;
                Long at = layout.offsets().get(name);
                if (at == null) {
                    g.put(name, zeroed(shape));
                    return;
                }
                int slot = DecoderLayout.layerOf(name) % RING_SLOTS;
                if (ring[slot] == null) ring[slot] = zeroed(layout.slotElements());
                long bytes = Tensor.numel(shape) * DType.F32.bytes();
                g.put(name, Tensor.wrap(ring[slot].data().asSlice(at * DType.F32.bytes(), bytes), DType.F32, shape));
            });
            grads = Collections.unmodifiableMap(g);
            generation++;
        }
        return grads;
    }

    /** Where each layer parameter's gradient starts in its layer's slot (elements, by name), and a slot's size. */
    private record Ring(Map<String, Long> offsets, long slotElements) {}

    /** Streamed: the ring's layout, a slot sized for the largest layer; else none (every gradient has its own buffer). */
    private Ring ringLayout() {
        Map<String, Long> offsets = new HashMap<>();
        if (!streamed) return new Ring(offsets, 0);
        Map<Integer, Long> used = new HashMap<>();
        shapes.forEach((name, shape) -> {
            int layer = DecoderLayout.layerOf(name);
            if (frozen.contains(name) || layer < 0) return;
            long at = used.getOrDefault(layer, 0L);
            offsets.put(name, at);
            used.put(layer, Math.ceilDiv(at + Tensor.numel(shape), ALIGN) * ALIGN);
        });
        return new Ring(offsets, used.values().stream().mapToLong(Long::longValue).max().orElse(0));
    }

    private Tensor zeroed(long... shape) {
        Tensor t = backend.allocate(arena, MemoryCategory.GRADIENTS, DType.F32, shape);
        backend.zero(t);
        allocatedBytes += t.byteSize();
        return t;
    }

    /** The buffer of parameter {@code name}, or null when it is frozen. */
    Tensor of(String name) {
        return all().get(name);
    }

    /** Bytes the allocated buffers hold (0 before the first use; streamed, the ring's). */
    long bytes() {
        return grads == null ? 0 : allocatedBytes;
    }

    long generation() {
        return generation;
    }

    private void release() {
        if (arena != null) arena.close();
        arena = null;
        grads = null;
    }

    @Override
    public void close() {
        release();
    }
}
