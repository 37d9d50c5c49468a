package org.gpt4llm.testing;

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
}
