package org.gpt4llm.backend.contract;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU backend's {@code matmul} with half-precision (bf16, f16) weights W as its B operand, on the
 * AVX2 and scalar paths, against float64 sums of the same values (W as stored, rounded): a linear layer's
 * forward {@code x Wᵀ} (decode rows through the GEMV, more rows through sgemm on fp32 panels of W) and its
 * input gradient {@code dy W} (panels along the inner dimension, their products added up in C). Sizes
 * make W span several panels ({@code HalfWeightGemm.PANEL_ELEMENTS}) with a short last one. Errors are
 * relative to {@code |alpha| Σ|a w| + |beta c|} per element, as in {@link GemvContractTest}: a dropped,
 * doubled or misplaced panel shows at 1e-3 and above.
 */
class HalfWeightMatmulContractTest {
    /** fp32 sums of about a thousand terms come within about 1e-7 of the scale. */
    private static final double TOL = 1e-6;

    @AfterAll
    static void report() {
        Checks.report("half-weight matmul");
    }

    /** {@code C[m,n] = alpha op(A) op(W) + beta C}; W is [n,k] when {@code transW}, else [k,n]. */
    record Case(int m, int n, int k, boolean transA, boolean transW, float alpha, float beta) {
        @Override
        public String toString() {
            return "M=" + m + " N=" + n + " K=" + k + (transA ? " Aᵀ" : "") + (transW ? " Wᵀ" : " W") + " alpha=" + alpha
                    + " beta=" + beta;
        }
    }

    private static Object[] c(int m, int n, int k, boolean transA, boolean transW, float alpha, float beta) {
        return new Object[] {new Case(m, n, k, transA, transW, alpha, beta)};
    }

    static Stream<Arguments> cases() {
        return Target.crossed(
                        c(1, 300, 200, false, true, 1f, 0f),     // a decode row: the GEMV
                        c(9, 33, 17, false, true, 1f, 0f),       // just past the GEMV's rows, one panel
                        c(12, 1000, 1100, false, true, 0.5f, 1f), // x Wᵀ over two panels of W's rows, accumulating
                        c(20, 2100, 520, false, true, 1f, 0f),   // three panels, a short last one
                        c(3, 1000, 1100, false, false, 1f, 0f),  // dy W: two panels along K (few rows: still sgemm)
                        c(16, 700, 2000, false, false, 2f, -0.5f), // two panels along K, beta on the first only
                        c(11, 900, 1300, true, false, 1f, 1f))   // Aᵀ W, panels along K of a transposed A
                .filter(a -> !((Target) a.get()[0]).bf16())
                .flatMap(a -> Stream.of(DType.BF16, DType.F16).map(d -> {
                    Object[] args = Arrays.copyOf(a.get(), 3);
                    args[2] = d;
                    return Arguments.of(args);
                }));
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesFloat64OfTheStoredWeights(Target t, Case cs, DType wType) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float[] a = Numerics.normal(rng, cs.m * cs.k, 1f);
        float[] w = stored(Numerics.normal(rng, cs.n * cs.k, 0.05f), wType);
        float[] c0 = Numerics.normal(rng, cs.m * cs.n, 1f);
        if (cs.beta == 0f) Arrays.fill(c0, Float.NaN); // beta 0 must not read C
        float[] ref = new float[cs.m * cs.n], scale = new float[ref.length];
        for (int i = 0; i < cs.m; i++) {
            for (int j = 0; j < cs.n; j++) {
                double s = 0, abs = 0;
                for (int kk = 0; kk < cs.k; kk++) {
                    double av = cs.transA ? a[kk * cs.m + i] : a[i * cs.k + kk];
                    double p = av * (cs.transW ? w[j * cs.k + kk] : w[kk * cs.n + j]);
                    s += p;
                    abs += Math.abs(p);
                }
                double old = cs.beta == 0f ? 0 : (double) cs.beta * c0[i * cs.n + j];
                ref[i * cs.n + j] = (float) (cs.alpha * s + old);
                scale[i * cs.n + j] = (float) (Math.abs(cs.alpha) * abs + Math.abs(old));
            }
        }
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor ta = cs.transA ? t.f32(arena, a, cs.k, cs.m) : t.f32(arena, a, cs.m, cs.k);
                Tensor tw = cs.transW ? t.put(arena, wType, w, cs.n, cs.k) : t.put(arena, wType, w, cs.k, cs.n);
                Tensor tc = t.f32(arena, c0, cs.m, cs.n);
                t.backend().matmul(tc, ta, cs.transA, tw, cs.transW, cs.alpha, cs.beta);
                Checks.assertCloseScaled(t, "matmul " + wType, t.get(tc), ref, scale, TOL, "seed " + seed + ", " + cs);
            }
        });
    }

    private static float[] stored(float[] v, DType t) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = t == DType.BF16 ? Bf16.round(v[i]) : Float.float16ToFloat(Float.floatToFloat16(v[i]));
        }
        return out;
    }
}
