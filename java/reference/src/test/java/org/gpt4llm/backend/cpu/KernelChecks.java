package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.testing.Numerics;

/**
 * Shared plumbing of the kernel tests: running a check on the AVX2 or the scalar path,
 * comparing with libtorch by relative norm error, and keeping the largest error seen per quantity
 * so each test class can print it. The comparison methods are public for the device kernel tests.
 */
public final class KernelChecks {
    private KernelChecks() {}

    /** fp32 kernels against libtorch fp32: a few ulps of accumulated rounding, no more. */
    static final double FP32_TOL = 1e-5;

    private static final Map<String, Double> MAX_ERR = new TreeMap<>();

    static String path(boolean scalar) {
        return scalar ? "scalar" : "avx2";
    }

    /** Runs {@code body} with the scalar fallback forced (or not), always restoring the default. */
    static void onPath(boolean scalar, Runnable body) {
        CpuKernels.forceScalar(scalar);
        try {
            if (scalar) assertEquals(0, CpuKernels.simdLevel(), "forcing the scalar path did not take");
            body.run();
        } finally {
            CpuKernels.forceScalar(false);
        }
    }

    /** Records an error measured by the caller. */
    public static void record(String what, double err) {
        synchronized (MAX_ERR) {
            MAX_ERR.merge(what, err, Math::max);
        }
    }

    /** Asserts relErr(ours, ref) < tol and records it under {@code what}. */
    public static double assertClose(String what, float[] ours, float[] ref, double tol, String context) {
        double err = Numerics.relErr(ours, ref);
        record(what, err);
        assertTrue(err < tol, what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /**
     * Like {@link #assertClose} but measures the error against the larger of ||ref|| and ||scale||:
     * for a result that is a difference of terms of size ||scale|| (RMSNorm's dx at C=1 is
     * rstd*g*(1 - x^2 rstd^2), almost all cancellation) rounding is only meaningful relative to the
     * terms, not to what is left of them. The same holds for an accumulated output compared with
     * prefill + gradient: ||prefill|| is a fair scale.
     */
    public static double assertCloseScaled(String what, float[] ours, float[] ref, float[] scale, double tol, String context) {
        double num = 0, den = 0, sc = 0;
        for (int i = 0; i < ours.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
            sc += (double) scale[i] * scale[i];
        }
        double err = Math.sqrt(num / Math.max(den, sc));
        record(what, err);
        assertTrue(err < tol, what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /** Prints the largest error recorded for each quantity whose name starts with {@code prefix}. */
    public static void report(String prefix) {
        synchronized (MAX_ERR) {
            MAX_ERR.forEach((k, v) -> {
                if (k.startsWith(prefix)) System.out.printf("max relative error %-28s %.3e%n", k, v);
            });
        }
    }

    /** A float32 libtorch leaf that records gradients. */
    public static org.bytedeco.pytorch.Tensor leaf(float[] v, long... shape) {
        org.bytedeco.pytorch.Tensor t = Torch.floats(v, shape);
        t.requires_grad_(true);
        return t;
    }

    /** Backpropagates {@code upstream} (same shape as {@code out}) through libtorch's graph. */
    public static void backward(org.bytedeco.pytorch.Tensor out, float[] upstream) {
        out.backward(Torch.floats(upstream, out.shape()), new BoolOptional(), false,
                new TensorArrayRefOptional());
    }

    public static float[] add(float[] a, float[] b) {
        float[] c = new float[a.length];
        for (int i = 0; i < c.length; i++) c[i] = a[i] + b[i];
        return c;
    }

    public static float[] sub(float[] a, float[] b) {
        float[] c = new float[a.length];
        for (int i = 0; i < c.length; i++) c[i] = a[i] - b[i];
        return c;
    }
}
