package org.gpt4llm.model;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.Supplier;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.tensor.Tensor;

/**
 * Weights from a file copied onto a backend, refused when one of their values is NaN or infinite: a
 * model that holds one computes NaN everywhere it reaches, far from the cause. The check is part of
 * the pass that converts or copies the values ({@link Backend#uploadFinite}), so it costs no second
 * read of the file.
 */
public final class FiniteWeights {
    private FiniteWeights() {}

    /**
     * {@code dst = host}, or a {@link CheckpointException} naming {@code file} (asked for only then),
     * the tensor {@code name} and its first bad element.
     */
    public static void upload(Backend be, Tensor dst, Tensor host, String name, Supplier<String> file) {
        long bad = be.uploadFinite(dst, host);
        if (bad >= 0) throw new CheckpointException(describe(file.get(), name, host, bad));
        // a tensor mapped from its file is read once: its pages leave this process's memory now rather
        // than add up beside the copy (a 7B checkpoint would otherwise count twice while it loads)
        if (host.data().isMapped()) host.data().unload();
    }

    /**
     * Every tensor of {@code dst} from the tensor of the same name in {@code weights}, checked for
     * presence, shape and finite values; {@code fileOf} names the file a tensor came from.
     */
    static void uploadAll(Backend be, java.util.Map<String, Tensor> dst, java.util.Map<String, Tensor> weights,
                          String source, java.util.function.UnaryOperator<String> fileOf) {
        for (var e : dst.entrySet()) {
            Tensor w = weights.get(e.getKey());
            if (w == null) throw new IllegalArgumentException(source + ": tensor " + e.getKey() + " is missing");
            if (!Arrays.equals(w.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException(source + ": tensor " + e.getKey() + " has shape "
                        + Arrays.toString(w.shape()) + " but the config needs " + Arrays.toString(e.getValue().shape()));
            }
            upload(be, e.getValue(), w, e.getKey(), () -> fileOf.apply(e.getKey()));
        }
    }

    /** {@link #upload} into host memory: {@code dst = host} converted to dst's dtype, refused the same way. */
    public static void copyOnHost(Tensor dst, Tensor host, String name, Supplier<String> file) {
        long bad = org.gpt4llm.backend.cpu.CpuBackend.convertFinite(dst, host);
        if (bad >= 0) throw new CheckpointException(describe(file.get(), name, host, bad));
    }

    /**
     * {@link #upload}, or with {@code onHost} {@link #copyOnHost}, of a part of tensor {@code name} (of
     * {@code shape}): {@code host} is its elements from {@code offset} on, laid flat, so the sentence names
     * the element of the whole tensor.
     */
    public static void uploadPart(Backend be, boolean onHost, Tensor dst, Tensor host, String name, Supplier<String> file,
                                  long offset, long[] shape) {
        long bad = onHost ? org.gpt4llm.backend.cpu.CpuBackend.convertFinite(dst, host) : be.uploadFinite(dst, host);
        if (bad >= 0) throw new CheckpointException(describe(file.get(), name, host.getFloat(bad), offset + bad, shape));
    }

    /** The sentence for element {@code index} of {@code t}, which is not finite. */
    static String describe(String file, String name, Tensor t, long index) {
        return describe(file, name, t.getFloat(index), index, t.shape());
    }

    private static String describe(String file, String name, float v, long index, long[] shape) {
        String what = Float.isNaN(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity";
        long[] at = new long[shape.length];
        for (int d = 0; d < shape.length; d++) {
            at[d] = (index / stride(shape, d)) % shape[d];
        }
        return String.format(Locale.ROOT, "%s: tensor %s holds %s at element %d (%s of shape %s); a model with NaN or"
                + " infinite weights cannot be used", file, name, what, index, Arrays.toString(at), Arrays.toString(shape));
    }

    private static long stride(long[] shape, int d) {
        long s = 1;
        for (int i = d + 1; i < shape.length; i++) s *= shape[i];
        return s;
    }
}
