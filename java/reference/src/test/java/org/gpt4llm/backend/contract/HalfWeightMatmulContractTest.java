package org.gpt4llm.backend.contract;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
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
 * AVX2 and scalar paths, against libtorch's float64 matmul of the same values (W rounded to the half
 * type by libtorch, then widened: the stored weights), so that only the order of fp32 sums differs:
 * a linear layer's forward {@code x Wᵀ} (decode rows through the GEMV, more rows through sgemm on fp32
 * panels of W) and its input gradient {@code dy W} (panels along the inner dimension, their products
 * added up in C). Sizes make W span several panels ({@code HalfWeightGemm.PANEL_ELEMENTS}) with a short
 * last one. Errors are relative to {@code |alpha| Σ|a w| + |beta c|} per element, as in
 * {@link GemvContractTest}: a dropped, doubled or misplaced panel shows at 1e-3 and above.
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
    void matchesLibtorchOfTheStoredWeightsWidened(Target t, Case cs, DType wType) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float[] a = Numerics.normal(rng, cs.m * cs.k, 1f);
        long[] wShape = cs.transW ? new long[] {cs.n, cs.k} : new long[] {cs.k, cs.n};
        // libtorch rounds W to the half type (nearest, ties to even) and widens it back: the values stored
        org.bytedeco.pytorch.Tensor stored = Torch.floats(Numerics.normal(rng, cs.n * cs.k, 0.05f), wShape)
                .to(wType == DType.BF16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Half).to(torch.ScalarType.Double);
        float[] w = Torch.toFloats(stored);
        float[] c0 = Numerics.normal(rng, cs.m * cs.n, 1f);
        if (cs.beta == 0f) Arrays.fill(c0, Float.NaN); // beta 0 must not read C
        // the reference in float64, so that what differs is our fp32 summation alone; the scale of its
        // rounding is |alpha| |op(A)| |op(W)| + |beta C| per element
        var ta64 = TorchRef.f64(a, cs.transA ? new long[] {cs.k, cs.m} : new long[] {cs.m, cs.k});
        var opA = cs.transA ? ta64.t() : ta64;
        var opW = cs.transW ? stored.t() : stored;
        var old = cs.beta == 0f ? TorchRef.f64(new float[cs.m * cs.n], cs.m, cs.n)
                : TorchRef.f64(c0, cs.m, cs.n).mul(new Scalar((double) cs.beta));
        float[] ref = Torch.toFloats(opA.matmul(opW).mul(new Scalar((double) cs.alpha)).add(old));
        float[] scale = Torch.toFloats(opA.abs().matmul(opW.abs()).mul(new Scalar(Math.abs((double) cs.alpha)))
                .add(old.abs()));
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tensorA = cs.transA ? t.f32(arena, a, cs.k, cs.m) : t.f32(arena, a, cs.m, cs.k);
                Tensor tensorW = t.put(arena, wType, w, wShape);
                Tensor tensorC = t.f32(arena, c0, cs.m, cs.n);
                t.backend().matmul(tensorC, tensorA, cs.transA, tensorW, cs.transW, cs.alpha, cs.beta);
                Checks.assertCloseScaled(t, "half-weight matmul " + wType, t.get(tensorC), ref, scale, TOL, "seed " + seed + ", " + cs);
            }
        });
    }
}
