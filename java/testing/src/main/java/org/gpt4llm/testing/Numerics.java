package org.gpt4llm.testing;

import java.util.Map;
import java.util.Random;

/** Random inputs and error measures for the numerical tests. */
public final class Numerics {
    private Numerics() {}

    public static float[] normal(Random rng, int n, float std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rng.nextGaussian() * std);
        return x;
    }

    public static float[] uniform(Random rng, int n, float lo, float hi) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng.nextFloat();
        return x;
    }

    /** ||a - b|| / ||b|| in double; 0 when both are zero, infinite when only b is. */
    public static double relErr(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("lengths differ: " + a.length + " vs " + b.length);
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        if (den == 0) return num == 0 ? 0 : Double.POSITIVE_INFINITY;
        return Math.sqrt(num / den);
    }

    /**
     * Compares the final weights of two AdamW runs over the same data whose gradient sums differ only in
     * their order (several devices against one): null where they agree, else one sentence naming the
     * first tensor and element that does not. They agree where each element is within {@code rel} of its
     * tensor's largest magnitude, except at most {@code outlierFraction} of a tensor's elements (at least
     * one), each within {@code maxDrift}: AdamW divides a gradient by its own magnitude, so where the terms
     * of a gradient cancel, the order of the sum picks the sign of a step of about the learning rate.
     */
    public static String adamWeightsDisagree(Map<String, float[]> want, Map<String, float[]> got, double rel,
                                             double outlierFraction, double maxDrift) {
        if (!want.keySet().equals(got.keySet())) return "the tensors differ: " + want.keySet() + " against " + got.keySet();
        for (var e : want.entrySet()) {
            float[] a = e.getValue(), b = got.get(e.getKey());
            if (a.length != b.length) return e.getKey() + " has " + b.length + " elements, not " + a.length;
            double scale = 1e-30;
            for (float x : a) scale = Math.max(scale, Math.abs(x));
            int outliers = 0, allowed = Math.max(1, (int) (outlierFraction * a.length));
            for (int i = 0; i < a.length; i++) {
                double d = Math.abs((double) a[i] - b[i]);
                if (!(d <= rel * scale)) {
                    outliers++;
                    if (!(d <= maxDrift) || outliers > allowed) {
                        return String.format(java.util.Locale.ROOT, "%s[%d] is %s, not %s (%d elements of %d beyond %.1e of"
                                + " the largest magnitude %.4g; %d allowed, each within %.1e)", e.getKey(), i, b[i], a[i],
                                outliers, a.length, rel, scale, allowed, maxDrift);
                    }
                }
            }
        }
        return null;
    }

    /**
     * k_proj's bias adds q·b to every score of a query alike, and softmax ignores a shift shared by all
     * keys: the loss does not depend on it, and its gradient is 0 up to rounding, so no relative error
     * of it means anything (and AdamW turns that noise into whole steps of either sign).
     */
    public static boolean lossIgnores(String parameter) {
        return parameter.endsWith("k_proj.bias");
    }
}
