package org.gpt4llm.backend.contract;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;

/**
 * Comparison with the reference by relative norm error, keeping the largest error seen per quantity
 * and target so that each contract test can print what it measured.
 */
public final class Checks {
    private Checks() {}

    private static final Map<String, Double> MAX_ERR = new TreeMap<>();

    /** Records an error measured by the caller under {@code "target what"}. */
    public static void record(Target t, String what, double err) {
        record(t, what, err, Double.NaN);
    }

    /** Records an error that the caller holds below {@code tol} (NaN: no single bound), also for a run's report ({@link Measurements}). */
    public static void record(Target t, String what, double err, double tol) {
        synchronized (MAX_ERR) {
            MAX_ERR.merge(t + " " + what, err, Math::max);
        }
        Measurements.record(t.toString(), what, err, tol);
    }

    /** Asserts relErr(ours, ref) &lt; tol and records it. */
    public static double assertClose(Target t, String what, float[] ours, float[] ref, double tol, String context) {
        double err = Numerics.relErr(ours, ref);
        record(t, what, err, tol);
        assertTrue(err < tol, t + " " + what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /**
     * Like {@link #assertClose} but relative to the larger of ||ref|| and ||scale||: for a result that is
     * a difference of terms of size ||scale|| (RMSNorm's dx at C=1 is rstd*g*(1 - x² rstd²), almost all
     * cancellation) rounding is only meaningful relative to the terms. The same holds for an accumulated
     * output compared with prefill + gradient: ||prefill|| is a fair scale.
     */
    public static double assertCloseScaled(Target t, String what, float[] ours, float[] ref, float[] scale, double tol,
                                           String context) {
        double num = 0, den = 0, sc = 0;
        for (int i = 0; i < ours.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
            sc += (double) scale[i] * scale[i];
        }
        double err = Math.sqrt(num / Math.max(den, sc));
        record(t, what, err, tol);
        assertTrue(err < tol, t + " " + what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /** Prints the largest error recorded for each quantity whose name contains {@code op}, per target. */
    public static void report(String op) {
        synchronized (MAX_ERR) {
            MAX_ERR.forEach((k, v) -> {
                if (k.contains(op)) System.out.printf("max relative error %-36s %.3e%n", k, v);
            });
        }
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

    /** |a| + |b| element-wise: the scale of an accumulated a + b. */
    public static float[] absSum(float[] a, float[] b) {
        float[] s = new float[a.length];
        for (int i = 0; i < s.length; i++) s[i] = Math.abs(a[i]) + Math.abs(b[i]);
        return s;
    }
}
