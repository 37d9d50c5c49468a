package org.gpt4llm.train;

import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.tensor.Tensor;

/**
 * AdamW's state on the host as a checkpoint's {@code optimizer.safetensors} holds it: the first and
 * second moments of every trainable parameter, whole, under {@code exp_avg.NAME} and
 * {@code exp_avg_sq.NAME}, and the update count. What a {@link StepEngine} that shards the state over
 * devices gathers for a checkpoint, and re-shards from on a resume (onto any number of devices).
 */
public record HostOptimizerState(Map<String, Tensor> tensors, int step) {
    /** The file's name of a moment of parameter {@code name}. */
    public static String key(boolean second, String name) {
        return (second ? "exp_avg_sq." : "exp_avg.") + name;
    }

    /** A state of the moments {@code m} and {@code v} by parameter name. */
    public static HostOptimizerState of(int step, Map<String, Tensor> m, Map<String, Tensor> v) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        m.forEach((k, x) -> t.put(key(false, k), x));
        v.forEach((k, x) -> t.put(key(true, k), x));
        return new HostOptimizerState(t, step);
    }

    /** The moment of parameter {@code name}; one sentence where the checkpoint lacks it. */
    public Tensor moment(boolean second, String name) {
        Tensor t = tensors.get(key(second, name));
        if (t == null) throw new IllegalArgumentException("optimizer state has no " + key(second, name));
        return t;
    }
}
