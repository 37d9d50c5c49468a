package org.gpt4llm.train;

import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.tensor.Tensor;

/**
 * AdamW's state on the host as a checkpoint's {@code optimizer.safetensors} holds it: the first and
 * second moments of every trainable parameter, whole, under {@code exp_avg.NAME} and
 * {@code exp_avg_sq.NAME}, the fp32 master weights of the parameters stored in a lower precision under
 * {@code master.NAME}, and the update count. The one naming of that file, for the optimizer of one
 * device and for a {@link StepEngine} that shards the state over devices, which gathers it for a
 * checkpoint and re-shards from it on a resume (onto any number of devices). {@code source} names where
 * the tensors came from (the file), for the sentence that refuses a value that is not finite.
 */
public record HostOptimizerState(Map<String, Tensor> tensors, int step, String source) {
    /** Prefixes of the file's names: a first moment, a second moment, an fp32 master weight. */
    public static final String FIRST_MOMENT = "exp_avg.", SECOND_MOMENT = "exp_avg_sq.", MASTER = "master.";

    /** A state gathered in memory. */
    public HostOptimizerState(Map<String, Tensor> tensors, int step) {
        this(tensors, step, "the gathered optimizer state");
    }

    /** The file's name of a moment of parameter {@code name}. */
    public static String key(boolean second, String name) {
        return (second ? SECOND_MOMENT : FIRST_MOMENT) + name;
    }

    /** The moments {@code m} and {@code v} and the {@code masters} by parameter name, under the file's names, in its order. */
    public static Map<String, Tensor> named(Map<String, Tensor> m, Map<String, Tensor> v, Map<String, Tensor> masters) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        m.forEach((k, x) -> t.put(key(false, k), x));
        v.forEach((k, x) -> t.put(key(true, k), x));
        masters.forEach((k, x) -> t.put(MASTER + k, x));
        return t;
    }

    /** A state of the moments {@code m} and {@code v} and the {@code masters} by parameter name. */
    public static HostOptimizerState of(int step, Map<String, Tensor> m, Map<String, Tensor> v, Map<String, Tensor> masters) {
        return new HostOptimizerState(named(m, v, masters), step);
    }

    /** The moment of parameter {@code name}; one sentence where the checkpoint lacks it. */
    public Tensor moment(boolean second, String name) {
        Tensor t = tensors.get(key(second, name));
        if (t == null) throw new IllegalArgumentException("optimizer state has no " + key(second, name));
        return t;
    }

    /** The fp32 master of parameter {@code name}, or null where the checkpoint has none. */
    public Tensor master(String name) {
        return tensors.get(MASTER + name);
    }

    /** Whether the state holds any masters (a checkpoint written before they were saved holds none). */
    public boolean hasMasters() {
        return tensors.keySet().stream().anyMatch(k -> k.startsWith(MASTER));
    }
}
