package org.gpt4llm.backend.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU backend's GEMV, {@code C = alpha A Wᵀ + beta C} for a few rows of A (a decode step), on its
 * AVX-512, AVX2 and scalar paths, against float64 sums of the same values: through {@code matmul} (fp32
 * weights, where the backend routes up to {@code GEMV_MAX_ROWS} rows) and directly with bf16 and f16
 * weights, widened in the kernel. On the AVX512_BF16 path ({@code cpu-avx512-bf16}) bf16 weights meet A
 * rounded to bf16 instead, against float64 sums over the rounded A. Sizes cover short rows of W (read one at a time) and long ones
 * (read in blocks), K not a multiple of 8 or 16, N not a multiple of the block, and W large enough to be
 * split between the worker threads. Errors are relative to {@code |alpha| Σ|a w| + |beta c|} per
 * element, the scale of the rounding: a dropped or doubled term shows at 1e-3 and above.
 */
class GemvContractTest {
    /** fp32 sums of up to two thousand terms in eight lanes come within about 4e-8 of the scale. */
    private static final double TOL = 1e-6;

    @AfterAll
    static void report() {
        Checks.report("gemv");
    }

    record Case(int m, int n, int k, float alpha, float beta) {
        @Override
        public String toString() {
            return "M=" + m + " N=" + n + " K=" + k + " alpha=" + alpha + " beta=" + beta;
        }
    }

    private static Object[] c(int m, int n, int k, float alpha, float beta) {
        return new Object[] {new Case(m, n, k, alpha, beta)};
    }

    private static final Object[][] CASES = {
        c(1, 1, 1, 1f, 0f), c(1, 7, 13, 1f, 0f), c(2, 33, 17, 0.5f, 1f), c(3, 64, 8, 1f, 1f),
        c(1, 1001, 288, 1f, 0f),     // short rows, split between threads
        c(8, 1001, 288, 1f, 1f),     // a decode batch, accumulating (a residual)
        c(5, 290, 600, 2f, -0.5f),   // long rows in blocks of two (four on AVX-512), a tail of two rows
        c(1, 515, 1031, 1f, 0f),     // long rows in blocks of four, tails in K and N
        c(4, 130, 520, 1f, 0f), c(7, 99, 2048, 1f, 0f)};

    /** The CPU targets only: the GPU backends multiply through cuBLAS. */
    static Stream<Arguments> cases() {
        return Target.crossedWithAvx512(CASES).filter(a -> !((Target) a.get()[0]).bf16());
    }

    static Stream<Arguments> dotCases() {
        return Target.crossedWithBf16Dot(CASES);
    }

    static Stream<Arguments> halfCases() {
        return cases().flatMap(a -> Stream.of(DType.BF16, DType.F16).map(d -> {
            Object[] args = Arrays.copyOf(a.get(), 3);
            args[2] = d;
            return Arguments.of(args);
        }));
    }

    /**
     * Random A, W (as stored: rounded to {@code wType}) and C, with the reference and its scale; the
     * reference multiplies A as {@code aType} holds it (BF16: rounded, as the dot products take it).
     */
    private record Data(float[] a, float[] w, float[] c, float[] ref, float[] scale) {
        static Data of(Case cs, DType wType, long seed) {
            return of(cs, wType, DType.F32, seed);
        }

        static Data of(Case cs, DType wType, DType aType, long seed) {
            Random rng = new Random(seed);
            return of(cs, wType, aType, Numerics.normal(rng, cs.m * cs.k, 1f), rng);
        }

        /** With the given A; W and C drawn from {@code rng}. */
        static Data of(Case cs, DType wType, DType aType, float[] a, Random rng) {
            float[] w = stored(Numerics.normal(rng, cs.n * cs.k, 0.05f), wType);
            float[] c = Numerics.normal(rng, cs.m * cs.n, 1f);
            float[] aHeld = stored(a, aType);
            float[] ref = new float[c.length], scale = new float[c.length];
            for (int i = 0; i < cs.m; i++) {
                for (int j = 0; j < cs.n; j++) {
                    double s = 0, abs = 0;
                    for (int kk = 0; kk < cs.k; kk++) {
                        double p = (double) aHeld[i * cs.k + kk] * w[j * cs.k + kk];
                        s += p;
                        abs += Math.abs(p);
                    }
                    double old = cs.beta == 0f ? 0 : (double) cs.beta * c[i * cs.n + j];
                    ref[i * cs.n + j] = (float) (cs.alpha * s + old);
                    scale[i * cs.n + j] = (float) (Math.abs(cs.alpha) * abs + Math.abs(old));
                }
            }
            return new Data(a, w, c, ref, scale);
        }
    }

    private static float[] stored(float[] v, DType t) {
        return switch (t) {
            case F32 -> v;
            case BF16 -> Bf16.round(v);
            case F16 -> {
                float[] out = new float[v.length];
                for (int i = 0; i < v.length; i++) out[i] = Float.float16ToFloat(Float.floatToFloat16(v[i]));
                yield out;
            }
            default -> throw new IllegalArgumentException(t.toString());
        };
    }

    /** C as passed in: beta 0 must not read it, so it holds NaNs then. */
    private static float[] initialC(Case cs, Data d) {
        if (cs.beta != 0f) return d.c;
        float[] nan = new float[d.c.length];
        Arrays.fill(nan, Float.NaN);
        return nan;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matmulOfFewRowsMatchesFloat64(Target t, Case cs) {
        long seed = TestSeeds.next();
        Data d = Data.of(cs, DType.F32, seed);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor a = t.f32(arena, d.a, cs.m, cs.k), w = t.f32(arena, d.w, cs.n, cs.k);
                Tensor c = t.f32(arena, initialC(cs, d), cs.m, cs.n);
                t.backend().matmul(c, a, false, w, true, cs.alpha, cs.beta);
                Checks.assertCloseScaled(t, "gemv f32", t.get(c), d.ref, d.scale, TOL, "seed " + seed + ", " + cs);
            }
        });
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("halfCases")
    void halfPrecisionWeightsMatchFloat64(Target t, Case cs, DType wType) {
        long seed = TestSeeds.next();
        Data d = Data.of(cs, wType, seed);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor a = t.f32(arena, d.a, cs.m, cs.k), w = t.put(arena, wType, d.w, cs.n, cs.k);
                Tensor c = t.f32(arena, initialC(cs, d), cs.m, cs.n);
                CpuKernels.gemv(c.data(), cs.n, a.data(), cs.k, w.data(), wType, cs.k, cs.m, cs.n, cs.k, cs.alpha, cs.beta);
                Checks.assertCloseScaled(t, "gemv " + wType, t.get(c), d.ref, d.scale, TOL, "seed " + seed + ", " + cs);
            }
        });
    }

    /**
     * bf16 weights on the AVX512_BF16 dot products: A rounded to bf16 (to nearest even) meets W, each
     * product exact, the sums fp32. The unrounded A's sums lie about 2^-9/sqrt(K) of the scale away,
     * far beyond TOL, so a path that kept A in fp32 fails here.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dotCases")
    void bf16DotProductsMatchFloat64OverActivationsRoundedToBf16(Target t, Case cs) {
        long seed = TestSeeds.next();
        Data d = Data.of(cs, DType.BF16, DType.BF16, seed);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor a = t.f32(arena, d.a, cs.m, cs.k), w = t.put(arena, DType.BF16, d.w, cs.n, cs.k);
                Tensor c = t.f32(arena, initialC(cs, d), cs.m, cs.n);
                CpuKernels.gemv(c.data(), cs.n, a.data(), cs.k, w.data(), DType.BF16, cs.k, cs.m, cs.n, cs.k, cs.alpha,
                        cs.beta);
                Checks.assertCloseScaled(t, "gemv bf16 dot", t.get(c), d.ref, d.scale, TOL, "seed " + seed + ", " + cs);
            }
        });
    }

    /**
     * Which paths round A: 1 + 2^-12 is 1 in bf16, so 64 such activations against 64 weights of 1 sum to
     * 64 on the dot products and to 64 + 2^-6 where A is widened to meet W in fp32 (both exact).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("roundingTargets")
    void onlyTheDotProductPathRoundsActivationsToBf16(Target t) {
        int k = 64;
        float[] a = new float[k], w = new float[k];
        Arrays.fill(a, 1f + 0x1p-12f);
        Arrays.fill(w, 1f);
        boolean rounds = t == Target.CPU_AVX512_BF16;
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor at = t.f32(arena, a, 1, k), wt = t.put(arena, DType.BF16, w, 1, k), c = t.f32(arena, new float[1], 1, 1);
                CpuKernels.gemv(c.data(), 1, at.data(), k, wt.data(), DType.BF16, k, 1, 1, k, 1f, 0f);
                assertEquals(rounds ? 64f : 64f + 0x1p-6f, t.get(c)[0], t + ": A " + (rounds ? "rounded" : "widened"));
            }
        });
    }

    static Stream<Target> roundingTargets() {
        return Stream.concat(cpuTargets(), Target.bf16DotProducts().stream());
    }

    /**
     * Several weights of one input in one call (a layer's q, k and v): each output as its own GEMV
     * gives it, against float64. Through the backend's {@code matmulSharedInput} for fp32 weights (its
     * route to the shared GEMV), directly for half ones; weights of 7 to 1001 rows, so that tasks of one
     * weight and of the next meet in the same run of the pool.
     */
    @ParameterizedTest(name = "{0} M={1} {2}")
    @MethodSource("sharedCases")
    void weightsSharingAnInputMatchFloat64(Target t, int m, DType wType) {
        long seed = TestSeeds.next();
        int k = 288;
        int[] ns = {64, 7, 1001};
        Data[] d = new Data[ns.length];
        DType aType = t == Target.CPU_AVX512_BF16 && wType == DType.BF16 ? DType.BF16 : DType.F32;
        Random rng = new Random(seed);
        float[] shared = Numerics.normal(rng, m * k, 1f);
        for (int i = 0; i < ns.length; i++) d[i] = Data.of(new Case(m, ns[i], k, 1f, 0f), wType, aType, shared, rng);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor a = t.f32(arena, shared, m, k);
                Tensor[] w = new Tensor[ns.length], c = new Tensor[ns.length];
                for (int i = 0; i < ns.length; i++) {
                    w[i] = t.put(arena, wType, d[i].w, ns[i], k);
                    c[i] = t.f32(arena, initialC(new Case(m, ns[i], k, 1f, 0f), d[i]), m, ns[i]);
                }
                if (wType == DType.F32) {
                    t.backend().matmulSharedInput(c, a, w);
                } else {
                    CpuKernels.gemvShared(Arrays.stream(c).map(Tensor::data).toArray(MemorySegment[]::new),
                            a.data(), k, Arrays.stream(w).map(Tensor::data).toArray(MemorySegment[]::new),
                            wType, ns, m, k);
                }
                for (int i = 0; i < ns.length; i++) {
                    Checks.assertCloseScaled(t, "gemv shared " + wType, t.get(c[i]), d[i].ref, d[i].scale, TOL,
                            "seed " + seed + ", weight " + i + " of " + ns[i] + " rows, M=" + m);
                }
            }
        });
    }

    static Stream<Arguments> sharedCases() {
        return Stream.concat(cpuTargets(), Target.bf16DotProducts().stream())
                .flatMap(t -> Stream.of(1, 3, 8).flatMap(m -> Stream.of(DType.F32, DType.BF16, DType.F16)
                        .map(d -> Arguments.of(t, m, d))));
    }

    @Test
    void aSharedCallOfNoneOrTooManyWeightsIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.allocate(arena, DType.F32, 8);
            int over = CpuKernels.GEMV_SHARED_MAX + 1;
            MemorySegment[] none = {}, many = new MemorySegment[over];
            Arrays.fill(many, x.data());
            assertThrows(IllegalArgumentException.class, () -> CpuKernels.gemvShared(none, x.data(), 2, none, DType.F32,
                    new int[0], 2, 2));
            assertThrows(IllegalArgumentException.class, () -> CpuKernels.gemvShared(many, x.data(), 2, many, DType.F32,
                    new int[over], 2, 2));
        }
    }

    /** Rows of A and C inside wider buffers (a view of a session's work buffers): the strides are honoured. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cpuTargets")
    void stridedRowsMatchFloat64(Target t) {
        long seed = TestSeeds.next();
        Case cs = new Case(3, 200, 300, 1f, 0f);
        Data d = Data.of(cs, DType.F32, seed);
        int lda = cs.k + 5, ldc = cs.n + 3;
        float[] aWide = new float[cs.m * lda], cWide = new float[cs.m * ldc];
        Arrays.fill(cWide, -7f);
        for (int i = 0; i < cs.m; i++) System.arraycopy(d.a, i * cs.k, aWide, i * lda, cs.k);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor a = t.f32(arena, aWide, cs.m, lda), w = t.f32(arena, d.w, cs.n, cs.k);
                Tensor c = t.f32(arena, cWide, cs.m, ldc);
                CpuKernels.gemv(c.data(), ldc, a.data(), lda, w.data(), DType.F32, cs.k, cs.m, cs.n, cs.k, 1f, 0f);
                float[] got = t.get(c), rows = new float[cs.m * cs.n];
                for (int i = 0; i < cs.m; i++) {
                    System.arraycopy(got, i * ldc, rows, i * cs.n, cs.n);
                    for (int j = cs.n; j < ldc; j++) {
                        if (got[i * ldc + j] != -7f) throw new AssertionError(t + ": gemv wrote past row " + i + " of C");
                    }
                }
                Checks.assertCloseScaled(t, "gemv f32 strided", rows, d.ref, d.scale, TOL, "seed " + seed + ", " + cs);
            }
        });
    }

    static Stream<Target> cpuTargets() {
        return Target.presentWithAvx512().stream().filter(t -> !t.bf16());
    }

    @Test
    void anUnknownWeightTypeIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.allocate(arena, DType.F32, 8);
            assertThrows(IllegalArgumentException.class,
                    () -> CpuKernels.gemv(x.data(), 2, x.data(), 2, x.data(), DType.I32, 2, 2, 2, 2, 1f, 0f));
        }
    }
}
