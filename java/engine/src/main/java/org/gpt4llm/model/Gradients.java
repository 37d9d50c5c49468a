package org.gpt4llm.model;

import java.lang.foreign.Arena;
import java.util.Collection;
import java.util.Collections;
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
 */
final class Gradients implements AutoCloseable {
    private final Backend backend;
    private final Map<String, long[]> shapes;
    private final Set<String> frozen = new HashSet<>();
    private Arena arena;
    private Map<String, Tensor> grads;
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

    /** The buffers of every parameter that trains, by name (allocated now if they were not). */
    Map<String, Tensor> all() {
        if (grads == null) {
            arena = Arena.ofShared();
            Map<String, Tensor> g = new LinkedHashMap<>();
            shapes.forEach((name, shape) -> {
                if (frozen.contains(name)) return;
                Tensor t = backend.allocate(arena, MemoryCategory.GRADIENTS, DType.F32, shape);
                backend.zero(t);
                g.put(name, t);
            });
            grads = Collections.unmodifiableMap(g);
            generation++;
        }
        return grads;
    }

    /** The buffer of parameter {@code name}, or null when it is frozen. */
    Tensor of(String name) {
        return all().get(name);
    }

    /** Bytes the allocated buffers hold (0 before the first use). */
    long bytes() {
        return grads == null ? 0 : grads.values().stream().mapToLong(t -> t.numel() * t.dtype().bytes()).sum();
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
