package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.add;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cpu.KernelChecks.assertCloseScaled;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LayerNorm forward and backward against libtorch's native_layer_norm and its autograd, run in
 * float64 so the reference carries no rounding of its own (our fp32 results are a few ulps off it).
 */
class LayerNormTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("layernorm");
    }

    static Stream<Arguments> shapes() {
        int[][] nc = {{1, 1}, {3, 7}, {19, 33}, {1, 257}, {19, 257}, {3, 2048}, {300, 64}, {67, 1000}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int[] s : nc) b.add(Arguments.of(s[0], s[1], scalar));
        }
        return b.build();
    }

    static Stream<Arguments> paths() {
        return Stream.of(Arguments.of(false), Arguments.of(true));
    }

    /** {y, mean, rstd, dx, dw, db} of libtorch in float64, for the upstream gradient dy. */
    private static float[][] reference(float[] x, float[] w, float[] b, float[] dy, int n, int c, float eps) {
        try (PointerScope scope = new PointerScope()) {
            var tx = Torch.floats(x, n, c).to(torch.ScalarType.Double);
            var tw = Torch.floats(w, c).to(torch.ScalarType.Double);
            var tb = Torch.floats(b, c).to(torch.ScalarType.Double);
            tx.requires_grad_(true);
            tw.requires_grad_(true);
            tb.requires_grad_(true);
            var res = torch.native_layer_norm(tx, new long[] {c}, new TensorOptional(tw), new TensorOptional(tb), eps);
            var y = res.get0();
            y.mul(Torch.floats(dy, n, c).to(torch.ScalarType.Double)).sum().backward();
            return new float[][] {Torch.toFloats(y), Torch.toFloats(res.get1()), Torch.toFloats(res.get2()),
                    Torch.toFloats(tx.grad()), Torch.toFloats(tw.grad()), Torch.toFloats(tb.grad())};
        }
    }

    @ParameterizedTest(name = "N={0} C={1} scalar={2}")
    @MethodSource("shapes")
    void matchesLibtorch(int n, int c, boolean scalar) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float[] x = Numerics.normal(rng, n * c, 1.5f);
        for (int r = 0; r < n; r++) {  // rows with an offset, as activations have: the mean matters
            float offset = 3f * (rng.nextFloat() - 0.5f);
            for (int j = 0; j < c; j++) x[r * c + j] += offset;
        }
        check(seed, rng, x, n, c, scalar, FP32_TOL);
    }

    /**
     * Rows around ±1e3 with a spread of 0.5: E[x²] - mean² would cancel away most digits of the
     * variance (x² ~ 1e6 holds 0.06 per ulp in fp32, the variance is 0.25). What fp32 cannot avoid
     * is the stored mean's rounding, half an ulp of |mean|, which shifts xhat by that times rstd:
     * the tolerance adds it (~1e-4 here), far below what cancellation costs (1e-2 and more).
     */
    @ParameterizedTest(name = "scalar={0}")
    @MethodSource("paths")
    void largeOffsetsDoNotCancel(boolean scalar) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 23, c = 999;
        float[] x = Numerics.normal(rng, n * c, 0.5f);
        double shift = 0;
        for (int r = 0; r < n; r++) {
            float offset = (rng.nextBoolean() ? 1 : -1) * (500f + 1000f * rng.nextFloat());
            for (int j = 0; j < c; j++) x[r * c + j] += offset;
            shift = Math.max(shift, Math.ulp(offset) * 2.0);  // half an ulp of the mean times rstd (~2), twice over
        }
        check(seed, rng, x, n, c, scalar, FP32_TOL + shift);
    }

    private static void check(long seed, Random rng, float[] x, int n, int c, boolean scalar, double tol) {
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c + ", " + KernelChecks.path(scalar);
        float eps = rng.nextBoolean() ? 1e-5f : 1e-6f;
        float[] w = Numerics.uniform(rng, c, 0.5f, 1.5f);
        float[] b = Numerics.normal(rng, c, 0.5f);
        float[] dy = Numerics.normal(rng, n * c, 1.0f);
        float[] dx0 = Numerics.normal(rng, n * c, 1.0f);  // accumulate targets, pre-filled
        float[] dw0 = Numerics.normal(rng, c, 1.0f), db0 = Numerics.normal(rng, c, 1.0f);
        float[][] ref = reference(x, w, b, dy, n, c, eps);
        float[] refY = ref[0], refMean = ref[1], refRstd = ref[2], refDx = ref[3], refDw = ref[4], refDb = ref[5];

        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w: measured against rstd*|g|
        float[] term = new float[n * c];
        for (int i = 0; i < n * c; i++) term[i] = refRstd[i / c] * w[i % c] * dy[i];
        // dw sums dy * xhat with |xhat| of order 1 over rows whose signs cancel: measured against
        // sum |dy| (at C = 1 xhat is 0 and dw is exactly 0, libtorch's only rounding noise)
        float[] dwScale = new float[c];
        for (int i = 0; i < n * c; i++) dwScale[i % c] += Math.abs(dy[i]);

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Random junk = new Random(seed + 1);
                Tensor tx = Tensor.of(arena, x, n, c), tw = Tensor.of(arena, w, c), tb = Tensor.of(arena, b, c);
                Tensor y = Tensor.of(arena, Numerics.normal(junk, n * c, 1f), n, c);  // overwritten
                Tensor mean = Tensor.of(arena, Numerics.normal(junk, n, 1f), n);
                Tensor rstd = Tensor.of(arena, Numerics.normal(junk, n, 1f), n);
                CPU.layernormForward(y, mean, rstd, tx, tw, tb, eps);
                assertClose("layernorm y", y.toFloatArray(), refY, tol, ctx);
                assertClose("layernorm mean", mean.toFloatArray(), refMean, FP32_TOL, ctx);
                assertClose("layernorm rstd", rstd.toFloatArray(), refRstd, FP32_TOL, ctx);

                Tensor tdy = Tensor.of(arena, dy, n, c);
                // into zeroed outputs: the gradients themselves
                Tensor dxz = Tensor.allocate(arena, DType.F32, n, c);
                Tensor dwz = Tensor.allocate(arena, DType.F32, c), dbz = Tensor.allocate(arena, DType.F32, c);
                CPU.layernormBackward(dxz, dwz, dbz, tdy, tx, tw, mean, rstd);
                assertCloseScaled("layernorm dx", dxz.toFloatArray(), refDx, term, tol, ctx);
                assertCloseScaled("layernorm dw", dwz.toFloatArray(), refDw, dwScale, tol, ctx);
                assertClose("layernorm db", dbz.toFloatArray(), refDb, FP32_TOL, ctx);

                // into pre-filled outputs: all three accumulate (measured against the pre-filled
                // values too, since their sum with the gradient may cancel)
                Tensor dx = Tensor.of(arena, dx0, n, c), dw = Tensor.of(arena, dw0, c), db = Tensor.of(arena, db0, c);
                CPU.layernormBackward(dx, dw, db, tdy, tx, tw, mean, rstd);
                assertCloseScaled("layernorm dx (+=)", dx.toFloatArray(), add(dx0, refDx), absSum(dx0, term), tol, ctx);
                assertCloseScaled("layernorm dw (+=)", dw.toFloatArray(), add(dw0, refDw), absSum(dw0, dwScale), tol, ctx);
                assertCloseScaled("layernorm db (+=)", db.toFloatArray(), add(db0, refDb), db0, FP32_TOL, ctx);

                // deterministic: the same call again gives the same bits
                Tensor dx2 = Tensor.of(arena, dx0, n, c), dw2 = Tensor.of(arena, dw0, c), db2 = Tensor.of(arena, db0, c);
                CPU.layernormBackward(dx2, dw2, db2, tdy, tx, tw, mean, rstd);
                assertArrayEquals(dx.toFloatArray(), dx2.toFloatArray(), "dx not deterministic, " + ctx);
                assertArrayEquals(dw.toFloatArray(), dw2.toFloatArray(), "dw not deterministic, " + ctx);
                assertArrayEquals(db.toFloatArray(), db2.toFloatArray(), "db not deterministic, " + ctx);
            }
        });
    }

    /** |a| + |b| element-wise: the scale of an accumulated a + b. */
    private static float[] absSum(float[] a, float[] b) {
        float[] s = new float[a.length];
        for (int i = 0; i < s.length; i++) s[i] = Math.abs(a[i]) + Math.abs(b[i]);
        return s;
    }

    @Test
    void mismatchedShapesAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.allocate(arena, DType.F32, 3, 8), w = Tensor.allocate(arena, DType.F32, 8);
            Tensor stat = Tensor.allocate(arena, DType.F32, 3);
            assertThrows(IllegalArgumentException.class, () -> CPU.layernormForward(x, stat, stat, x,
                    Tensor.allocate(arena, DType.F32, 5), Tensor.allocate(arena, DType.F32, 5), 1e-5f));  // 24 is not rows of 5
            assertThrows(IllegalArgumentException.class, () -> CPU.layernormForward(x, stat, stat, x, w,
                    Tensor.allocate(arena, DType.F32, 7), 1e-5f));                                      // bias not [C]
            assertThrows(IllegalArgumentException.class, () -> CPU.layernormForward(x,
                    Tensor.allocate(arena, DType.F32, 4), stat, x, w, w, 1e-5f));                       // mean not [N]
            assertThrows(IllegalArgumentException.class, () -> CPU.layernormBackward(x, w,
                    Tensor.allocate(arena, DType.F32, 7), x, x, w, stat, stat));                        // dbias not [C]
        }
    }
}
