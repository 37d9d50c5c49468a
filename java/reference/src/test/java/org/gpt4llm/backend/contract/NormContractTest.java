package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Checks.absSum;
import static org.gpt4llm.backend.contract.Checks.add;
import static org.gpt4llm.backend.contract.Checks.assertClose;
import static org.gpt4llm.backend.contract.Checks.assertCloseScaled;
import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.gpt4llm.backend.contract.Target.Result.F32_SUM;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
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
 * RMSNorm (HF's LlamaRMSNorm) and LayerNorm (torch's native_layer_norm) forward and backward on every
 * backend against libtorch autograd in float64 on the values the backend holds: y, the saved statistics,
 * dx, dweight and dbias, into zeroed and into pre-filled outputs (the backward accumulates), the same
 * bits when called twice, and shapes that do not fit refused.
 */
class NormContractTest {
    @AfterAll
    static void report() {
        Checks.report("norm");
    }

    /** N, C: C % 8 == 0 takes the GPU's 16-byte path; C of 257 and more needs several passes per thread. */
    static Stream<Arguments> shapes() {
        return Stream.concat(Target.crossed(new Object[] {1, 1}, new Object[] {3, 7}, new Object[] {19, 33},
                        new Object[] {1, 257}, new Object[] {19, 8}, new Object[] {3, 264}, new Object[] {19, 257},
                        new Object[] {3, 2056}),
                Target.notEmulated(new Object[] {300, 64}, new Object[] {67, 1000}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    /** {y, rstd, dx, dw} of libtorch in float64 for the upstream gradient dy. */
    private static float[][] rmsReference(float[] x, float[] w, float[] dy, int n, int c, float eps) {
        try (PointerScope scope = new PointerScope()) {
            var tx = TorchRef.leaf64(x, n, c);
            var tw = TorchRef.leaf64(w, c);
            var rstd = tx.pow(new Scalar(2.0)).mean(new long[] {-1}, true, new ScalarTypeOptional())
                    .add(new Scalar(eps)).rsqrt();
            var y = tw.mul(tx.mul(rstd));
            TorchRef.backward(y, dy);
            return new float[][] {Torch.toFloats(y), Torch.toFloats(rstd), Torch.toFloats(tx.grad()), Torch.toFloats(tw.grad())};
        }
    }

    /** {y, mean, rstd, dx, dw, db} of libtorch in float64 for the upstream gradient dy. */
    private static float[][] layerReference(float[] x, float[] w, float[] b, float[] dy, int n, int c, float eps) {
        try (PointerScope scope = new PointerScope()) {
            var tx = TorchRef.leaf64(x, n, c);
            var tw = TorchRef.leaf64(w, c);
            var tb = TorchRef.leaf64(b, c);
            var res = torch.native_layer_norm(tx, new long[] {c}, new TensorOptional(tw), new TensorOptional(tb), eps);
            TorchRef.backward(res.get0(), dy);
            return new float[][] {Torch.toFloats(res.get0()), Torch.toFloats(res.get1()), Torch.toFloats(res.get2()),
                    Torch.toFloats(tx.grad()), Torch.toFloats(tw.grad()), Torch.toFloats(tb.grad())};
        }
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("shapes")
    void rmsnormMatchesLibtorch(Target t, int n, int c) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c;
        Random rng = new Random(seed);
        float eps = rng.nextBoolean() ? 1e-5f : 1e-6f;
        float[] x = t.held(Numerics.normal(rng, n * c, 2.0f));
        float[] w = t.held(Numerics.uniform(rng, c, 0.5f, 1.5f));
        float[] dy = t.held(Numerics.normal(rng, n * c, 1.0f));
        float[] dx0 = t.held(Numerics.normal(rng, n * c, 1.0f));  // accumulate targets, pre-filled
        float[] dw0 = Numerics.normal(rng, c, 1.0f);
        float[][] ref = rmsReference(x, w, dy, n, c, eps);
        float[] refY = ref[0], refRstd = ref[1], refDx = ref[2], refDw = ref[3];
        // dx's terms are rstd*w*dy and x*rstd^3/C*dot: rounding is measured against the first
        float[] term = new float[n * c];
        for (int i = 0; i < n * c; i++) term[i] = refRstd[i / c] * w[i % c] * dy[i];

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor tx = t.act(arena, x, n, c), tw = t.put(arena, be.weightType(), w, c), tdy = t.act(arena, dy, n, c);
                Tensor y = t.act(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);  // overwritten
                Tensor rstd = t.f32(arena, Numerics.normal(new Random(seed + 2), n, 1f), n);        // overwritten
                be.rmsnormForward(y, rstd, tx, tw, eps);
                assertClose(t, "rmsnorm y", t.get(y), refY, t.tol(STORED), ctx);
                assertClose(t, "rmsnorm rstd", t.get(rstd), refRstd, t.tol(F32_SUM), ctx);

                Tensor dxz = be.allocate(arena, t.act(), n, c), dwz = be.allocate(arena, DType.F32, c);
                be.rmsnormBackward(dxz, dwz, tdy, tx, tw, rstd);
                assertCloseScaled(t, "rmsnorm dx", t.get(dxz), refDx, term, t.tol(STORED), ctx);
                assertClose(t, "rmsnorm dw", t.get(dwz), refDw, t.tol(F32_SUM), ctx);

                // into pre-filled outputs: both accumulate (measured against the pre-filled values too,
                // since their sum with the gradient may cancel)
                float[][] first = null;
                for (int call = 0; call < 2; call++) {
                    Tensor dx = t.act(arena, dx0, n, c), dw = t.f32(arena, dw0, c);
                    be.rmsnormBackward(dx, dw, tdy, tx, tw, rstd);
                    float[][] got = {t.get(dx), t.get(dw)};
                    assertCloseScaled(t, "rmsnorm dx (+=)", got[0], add(dx0, refDx), absSum(dx0, term), t.tol(STORED), ctx);
                    assertCloseScaled(t, "rmsnorm dw (+=)", got[1], add(dw0, refDw), dw0, t.tol(F32_SUM), ctx);
                    if (first == null) first = got;
                    assertArrayEquals(first[0], got[0], t + " rmsnorm dx differs between two calls, " + ctx);
                    assertRepeats(t, "rmsnorm dw", first[1], got[1], ctx);
                }
            }
        });
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("shapes")
    void layernormMatchesLibtorch(Target t, int n, int c) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float[] x = Numerics.normal(rng, n * c, 1.5f);
        for (int r = 0; r < n; r++) {  // rows with an offset, as activations have: the mean matters
            float offset = 3f * (rng.nextFloat() - 0.5f);
            for (int j = 0; j < c; j++) x[r * c + j] += offset;
        }
        checkLayernorm(t, seed, rng, t.held(x), n, c, 0);
    }

    /**
     * Rows around ±1e3 with a spread of 0.5: E[x²] - mean² would cancel away most digits of the
     * variance (x² ~ 1e6 holds 0.06 per ulp in fp32, the variance is 0.25). What fp32 cannot avoid is
     * the stored mean's rounding, half an ulp of |mean|, which shifts xhat by that times rstd: the
     * tolerance adds it (~1e-4 here), far below what cancellation costs (1e-2 and more). On a GPU the
     * inputs themselves are bf16 (a step of 4 at 1000), which the reference sees too.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void layernormLargeOffsetsDoNotCancel(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = t == Target.CUDA_EMU ? 5 : 23, c = 999;
        float[] x = Numerics.normal(rng, n * c, 0.5f);
        double shift = 0;
        for (int r = 0; r < n; r++) {
            float offset = (rng.nextBoolean() ? 1 : -1) * (500f + 1000f * rng.nextFloat());
            for (int j = 0; j < c; j++) x[r * c + j] += offset;
            shift = Math.max(shift, Math.ulp(offset) * 2.0);  // half an ulp of the mean times rstd (~2), twice over
        }
        checkLayernorm(t, seed, rng, t.held(x), n, c, shift);
    }

    private static void checkLayernorm(Target t, long seed, Random rng, float[] x, int n, int c, double extraTol) {
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c;
        float eps = rng.nextBoolean() ? 1e-5f : 1e-6f;
        float[] w = t.held(Numerics.uniform(rng, c, 0.5f, 1.5f));
        float[] b = t.held(Numerics.normal(rng, c, 0.5f));
        float[] dy = t.held(Numerics.normal(rng, n * c, 1.0f));
        float[] dx0 = t.held(Numerics.normal(rng, n * c, 1.0f));  // accumulate targets, pre-filled
        float[] dw0 = Numerics.normal(rng, c, 1.0f), db0 = Numerics.normal(rng, c, 1.0f);
        float[][] ref = layerReference(x, w, b, dy, n, c, eps);
        float[] refY = ref[0], refMean = ref[1], refRstd = ref[2], refDx = ref[3], refDw = ref[4], refDb = ref[5];
        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w: measured against rstd*|g|
        float[] term = new float[n * c];
        for (int i = 0; i < n * c; i++) term[i] = refRstd[i / c] * w[i % c] * dy[i];
        // dw sums dy * xhat with |xhat| of order 1 over rows whose signs cancel: measured against sum |dy|
        float[] dwScale = new float[c];
        for (int i = 0; i < n * c; i++) dwScale[i % c] += Math.abs(dy[i]);
        double stored = t.tol(STORED) + extraTol, sum = t.tol(F32_SUM) + extraTol;

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Random junk = new Random(seed + 1);
                Tensor tx = t.act(arena, x, n, c), tdy = t.act(arena, dy, n, c);
                Tensor tw = t.put(arena, be.weightType(), w, c), tb = t.put(arena, be.weightType(), b, c);
                Tensor y = t.act(arena, Numerics.normal(junk, n * c, 1f), n, c);  // overwritten
                Tensor mean = t.f32(arena, Numerics.normal(junk, n, 1f), n);
                Tensor rstd = t.f32(arena, Numerics.normal(junk, n, 1f), n);
                be.layernormForward(y, mean, rstd, tx, tw, tb, eps);
                assertClose(t, "layernorm y", t.get(y), refY, stored, ctx);
                assertClose(t, "layernorm mean", t.get(mean), refMean, t.tol(F32_SUM), ctx);
                assertClose(t, "layernorm rstd", t.get(rstd), refRstd, t.tol(F32_SUM), ctx);

                Tensor dxz = be.allocate(arena, t.act(), n, c);
                Tensor dwz = be.allocate(arena, DType.F32, c), dbz = be.allocate(arena, DType.F32, c);
                be.layernormBackward(dxz, dwz, dbz, tdy, tx, tw, mean, rstd);
                assertCloseScaled(t, "layernorm dx", t.get(dxz), refDx, term, stored, ctx);
                assertCloseScaled(t, "layernorm dw", t.get(dwz), refDw, dwScale, sum, ctx);
                assertClose(t, "layernorm db", t.get(dbz), refDb, t.tol(F32_SUM), ctx);

                float[][] first = null;
                for (int call = 0; call < 2; call++) {
                    Tensor dx = t.act(arena, dx0, n, c), dw = t.f32(arena, dw0, c), db = t.f32(arena, db0, c);
                    be.layernormBackward(dx, dw, db, tdy, tx, tw, mean, rstd);
                    float[][] got = {t.get(dx), t.get(dw), t.get(db)};
                    assertCloseScaled(t, "layernorm dx (+=)", got[0], add(dx0, refDx), absSum(dx0, term), stored, ctx);
                    assertCloseScaled(t, "layernorm dw (+=)", got[1], add(dw0, refDw), absSum(dw0, dwScale), sum, ctx);
                    assertCloseScaled(t, "layernorm db (+=)", got[2], add(db0, refDb), db0, t.tol(F32_SUM), ctx);
                    if (first == null) first = got;
                    assertArrayEquals(first[0], got[0], t + " layernorm dx differs between two calls, " + ctx);
                    assertRepeats(t, "layernorm dw", first[1], got[1], ctx);
                    assertRepeats(t, "layernorm db", first[2], got[2], ctx);
                }
            }
        });
    }

    /**
     * A weight gradient of a second identical call: bit-identical on the CPU; on the CUDA path each block
     * adds its partial sums with atomics, in whatever order the blocks finish (as the kernels' headers
     * say), so there it matches to fp32 rounding only.
     */
    private static void assertRepeats(Target t, String what, float[] first, float[] second, String ctx) {
        if (t.bf16()) assertClose(t, what + " of a second call against the first", second, first, t.tol(F32_SHORT), ctx);
        else assertArrayEquals(first, second, t + " " + what + " differs between two calls, " + ctx);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void shapesThatDoNotFitAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = be.allocate(arena, t.act(), 3, 8), w = be.allocate(arena, be.weightType(), 8);
            Tensor stat = be.allocate(arena, DType.F32, 3), dw = be.allocate(arena, DType.F32, 8);
            Tensor w5 = be.allocate(arena, be.weightType(), 5);
            assertThrows(IllegalArgumentException.class, () -> be.rmsnormForward(x, stat, x, w5, 1e-5f));       // 24 is not rows of 5
            assertThrows(IllegalArgumentException.class, () -> be.rmsnormForward(x,
                    be.allocate(arena, DType.F32, 4), x, w, 1e-5f));                                             // rstd not [N]
            assertThrows(IllegalArgumentException.class, () -> be.layernormForward(x, stat, stat, x, w5, w5, 1e-5f));
            assertThrows(IllegalArgumentException.class, () -> be.layernormForward(x, stat, stat, x, w,
                    be.allocate(arena, be.weightType(), 7), 1e-5f));                                             // bias not [C]
            assertThrows(IllegalArgumentException.class, () -> be.layernormForward(x,
                    be.allocate(arena, DType.F32, 4), stat, x, w, w, 1e-5f));                                    // mean not [N]
            assertThrows(IllegalArgumentException.class, () -> be.layernormBackward(x, dw,
                    be.allocate(arena, DType.F32, 7), x, x, w, stat, stat));                                     // dbias not [C]
        }
    }
}
