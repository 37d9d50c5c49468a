package org.gpt4llm.train;

import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.tensor.Tensor;

/**
 * The names AdamW's state has in a checkpoint: the first and second moments of every trainable parameter
 * under {@code exp_avg.NAME} and {@code exp_avg_sq.NAME}, the fp32 master weights under {@code master.NAME}.
 * One naming for one device's {@code optimizer.safetensors} and for the ranks' files of a sharded state
 * ({@link OptimizerShards}), so that either resumes on any number of devices.
 */
public final class OptimizerStateNames {
    /** Prefixes of the names: a first moment, a second moment, an fp32 master weight. */
    public static final String FIRST_MOMENT = "exp_avg.", SECOND_MOMENT = "exp_avg_sq.", MASTER = "master.";

    private OptimizerStateNames() {}

    /** The name of a moment of parameter {@code name}. */
    public static String key(boolean second, String name) {
        return (second ? SECOND_MOMENT : FIRST_MOMENT) + name;
    }

    /** The moments {@code m} and {@code v} and the {@code masters} by parameter name, under the checkpoint's names, in its order. */
    public static Map<String, Tensor> named(Map<String, Tensor> m, Map<String, Tensor> v, Map<String, Tensor> masters) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        m.forEach((k, x) -> t.put(key(false, k), x));
        v.forEach((k, x) -> t.put(key(true, k), x));
        masters.forEach((k, x) -> t.put(MASTER + k, x));
        return t;
    }
}
