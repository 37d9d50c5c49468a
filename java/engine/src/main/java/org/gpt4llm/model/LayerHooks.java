package org.gpt4llm.model;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.Tensor;

/**
 * Where a {@link DecoderModel}'s weights are not all on the device at once (sharded over devices,
 * ZeRO 3), what makes a group of them whole before it is used and gives it back after: a decoder
 * layer's, or {@link #OUTSIDE} those outside the layers (embeddings, positions, final norm, head).
 * The model calls {@link #gather} before each layer's forward and again before its backward (and so
 * before a recomputed forward), and {@link #release} once the layer's work (its gradients included)
 * is done; the outside group is gathered at the start of a forward and given back at the end of the
 * backward.
 */
public interface LayerHooks {
    /** The group of the weights outside the decoder layers. */
    int OUTSIDE = -1;

    /**
     * The weights of {@code group} (a layer, or {@link #OUTSIDE}) are about to be read; {@code upward}
     * tells which way the pass goes (forward: layer l + 1 comes next; backward: l - 1), so that the next
     * layer can be gathered ahead.
     */
    void gather(int group, boolean upward);

    /** The weights of {@code group} are not needed any more: their memory may be reused. */
    void release(int group);

    /**
     * Copies of {@code params} in {@code host}, by name; with {@code hooks} (null: none) each group is
     * gathered for its copies and given back after, so no more than two groups are whole at a time.
     */
    static Map<String, Tensor> copyToHost(LayerHooks hooks, Backend be, Map<String, Tensor> params, Arena host) {
        return copyToHost(hooks, be, params, host, name -> true);
    }

    /**
     * As above, copying only the parameters {@code keep} accepts; every group is gathered all the same, so
     * ranks that each copy their own part of the same model take part in the same gathers.
     */
    static Map<String, Tensor> copyToHost(LayerHooks hooks, Backend be, Map<String, Tensor> params, Arena host,
            java.util.function.Predicate<String> keep) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        int whole = Integer.MIN_VALUE;
        if (hooks != null) hooks.gather(OUTSIDE, true);
        for (var e : params.entrySet()) {
            int layer = DecoderLayout.layerOf(e.getKey());
            if (hooks != null && layer != OUTSIDE && layer != whole) {
                if (whole != Integer.MIN_VALUE) hooks.release(whole);
                hooks.gather(layer, true);
                whole = layer;
            }
            if (keep.test(e.getKey())) out.put(e.getKey(), be.toHost(e.getValue(), host));
        }
        if (hooks != null) {
            if (whole != Integer.MIN_VALUE) hooks.release(whole);
            hooks.release(OUTSIDE);
        }
        return out;
    }

    /** {@code given}, checked to have {@code current}'s shape and type: what takes the place of parameter {@code name}. */
    static Tensor sameAs(Tensor current, Tensor given, String name) {
        if (given == null || !Arrays.equals(given.shape(), current.shape()) || given.dtype() != current.dtype()) {
            throw new IllegalArgumentException("the weights handed over have " + given + " for " + name + ", not " + current);
        }
        return given;
    }
}
