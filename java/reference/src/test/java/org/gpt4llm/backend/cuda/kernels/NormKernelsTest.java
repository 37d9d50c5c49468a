package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.add;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cpu.KernelChecks.assertCloseScaled;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.BF16_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.bf16;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.f32;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.cpu.KernelChecks;
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
 * kernels/rmsnorm.cu and kernels/layernorm.cu on the emulated device against libtorch autograd
 * (RMSNorm written with torch ops as HF's LlamaRMSNorm, LayerNorm as torch's native_layer_norm),
 * in fp32 on the same bf16 inputs.
 */
class NormKernelsTest {
    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("cuda rmsnorm");
        KernelChecks.report("cuda layernorm");
    }

    static Stream<Arguments> shapes() {
        // N, C: C % 8 == 0 takes the 16-byte path; C = 257 and 2056 need more than one pass per thread
        int[][] s = {{1, 1}, {3, 7}, {19, 33}, {1, 257}, {19, 8}, {3, 264}, {19, 64}, {3, 2056}};
        return Arrays.stream(s).map(r -> Arguments.of(r[0], r[1]));
    }

    /** Backward launches with one block, two blocks and the default (one per row here). */
    private static final int[] BLOCKS = {1, 2, NormKernels.BACKWARD_BLOCKS};

    @ParameterizedTest(name = "N={0} C={1}")
    @MethodSource("shapes")
    void rmsnormMatchesLibtorch(int n, int c) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c;
        Random rng = new Random(seed);
        float eps = rng.nextBoolean() ? 1e-5f : 1e-6f;
        float[] x = bf16(Numerics.normal(rng, n * c, 2.0f));
        float[] w = bf16(Numerics.uniform(rng, c, 0.5f, 1.5f));
        float[] dy = bf16(Numerics.normal(rng, n * c, 1.0f));
        float[] dx0 = bf16(Numerics.normal(rng, n * c, 1.0f));  // accumulate targets, pre-filled
        float[] dw0 = Numerics.normal(rng, c, 1.0f);

        float[] refY, refRstd, refDx, refDw;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n, c);
            var tw = KernelChecks.leaf(w, c);
            var rstd = tx.pow(new Scalar(2.0)).mean(new long[] {-1}, true, new ScalarTypeOptional())
                    .add(new Scalar(eps)).rsqrt();
            var y = tw.mul(tx.mul(rstd));
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refRstd = Torch.toFloats(rstd);
            refDx = Torch.toFloats(tx.grad());
            refDw = Torch.toFloats(tw.grad());
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor tx = DeviceChecks.bf16(arena, x, n, c), tw = DeviceChecks.bf16(arena, w, c);
            Tensor y = DeviceChecks.bf16(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);  // overwritten
            Tensor rstd = f32(arena, Numerics.normal(new Random(seed + 2), n, 1f), n);                      // overwritten
            NormKernels.rmsnormForward(device(), y, rstd, tx, tw, eps);
            assertClose("cuda rmsnorm y", download(y), refY, BF16_TOL, ctx);
            assertClose("cuda rmsnorm rstd", download(rstd), refRstd, F32_TOL, ctx);

            // dx's terms are rstd*w*dy and x*rstd^3/C*dot; rounding is measured against them
            float[] term = new float[n * c];
            for (int i = 0; i < n * c; i++) term[i] = refRstd[i / c] * w[i % c] * dy[i];
            float[] dxScale = absSum(dx0, term);
            Tensor tdy = DeviceChecks.bf16(arena, dy, n, c);

            Tensor dxz = device().allocate(arena, DType.BF16, n, c), dwz = device().allocate(arena, DType.F32, c);
            NormKernels.rmsnormBackward(device(), dxz, dwz, tdy, tx, tw, rstd);
            assertCloseScaled("cuda rmsnorm dx", download(dxz), refDx, term, BF16_TOL, ctx);
            assertClose("cuda rmsnorm dw", download(dwz), refDw, F32_TOL, ctx);

            float[] firstDx = null;
            for (int blocks : BLOCKS) {
                Tensor dx = DeviceChecks.bf16(arena, dx0, n, c), dw = f32(arena, dw0, c);
                NormKernels.rmsnormBackward(device(), dx, dw, tdy, tx, tw, rstd, blocks);
                String at = ctx + ", " + blocks + " blocks";
                float[] got = download(dx);
                assertCloseScaled("cuda rmsnorm dx (+=)", got, add(dx0, refDx), dxScale, BF16_TOL, at);
                assertCloseScaled("cuda rmsnorm dw (+=)", download(dw), add(dw0, refDw), dw0, F32_TOL, at);
                // each row's dx is computed by one block alone: the same bits for any block count
                if (firstDx == null) firstDx = got;
                assertArrayEquals(firstDx, got, "rmsnorm dx depends on the block count, " + at);
            }
        }
    }

    @ParameterizedTest(name = "N={0} C={1}")
    @MethodSource("shapes")
    void layernormMatchesLibtorch(int n, int c) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c;
        Random rng = new Random(seed);
        float eps = rng.nextBoolean() ? 1e-5f : 1e-6f;
        float[] x = Numerics.normal(rng, n * c, 1.5f);
        for (int r = 0; r < n; r++) {  // rows with an offset, as activations have: the mean matters
            float offset = 3f * (rng.nextFloat() - 0.5f);
            for (int j = 0; j < c; j++) x[r * c + j] += offset;
        }
        x = bf16(x);
        float[] w = bf16(Numerics.uniform(rng, c, 0.5f, 1.5f));
        float[] b = bf16(Numerics.normal(rng, c, 0.5f));
        float[] dy = bf16(Numerics.normal(rng, n * c, 1.0f));
        float[] dx0 = bf16(Numerics.normal(rng, n * c, 1.0f));  // accumulate targets, pre-filled
        float[] dw0 = Numerics.normal(rng, c, 1.0f), db0 = Numerics.normal(rng, c, 1.0f);

        float[] refY, refMean, refRstd, refDx, refDw, refDb;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n, c);
            var tw = KernelChecks.leaf(w, c);
            var tb = KernelChecks.leaf(b, c);
            var res = torch.native_layer_norm(tx, new long[] {c}, new TensorOptional(tw), new TensorOptional(tb), eps);
            var y = res.get0();
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refMean = Torch.toFloats(res.get1());
            refRstd = Torch.toFloats(res.get2());
            refDx = Torch.toFloats(tx.grad());
            refDw = Torch.toFloats(tw.grad());
            refDb = Torch.toFloats(tb.grad());
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor tx = DeviceChecks.bf16(arena, x, n, c), tw = DeviceChecks.bf16(arena, w, c);
            Tensor y = DeviceChecks.bf16(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);  // overwritten
            Tensor mean = f32(arena, Numerics.normal(new Random(seed + 2), n, 1f), n);                      // overwritten
            Tensor rstd = f32(arena, Numerics.normal(new Random(seed + 3), n, 1f), n);                      // overwritten
            NormKernels.layernormForward(device(), y, mean, rstd, tx, tw, DeviceChecks.bf16(arena, b, c), eps);
            assertClose("cuda layernorm y", download(y), refY, BF16_TOL, ctx);
            assertClose("cuda layernorm mean", download(mean), refMean, F32_TOL, ctx);
            assertClose("cuda layernorm rstd", download(rstd), refRstd, F32_TOL, ctx);

            // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w: measured against rstd*|g|
            float[] term = new float[n * c];
            for (int i = 0; i < n * c; i++) term[i] = refRstd[i / c] * w[i % c] * dy[i];
            float[] dxScale = absSum(dx0, term);
            Tensor tdy = DeviceChecks.bf16(arena, dy, n, c);

            Tensor dxz = device().allocate(arena, DType.BF16, n, c);
            Tensor dwz = device().allocate(arena, DType.F32, c), dbz = device().allocate(arena, DType.F32, c);
            NormKernels.layernormBackward(device(), dxz, dwz, dbz, tdy, tx, tw, mean, rstd);
            assertCloseScaled("cuda layernorm dx", download(dxz), refDx, term, BF16_TOL, ctx);
            // At C = 1, xhat is 0 and dw is exactly 0; libtorch's is rounding noise there (it forms
            // xhat as x*rstd - mean*rstd with rstd = 1/sqrt(eps)). dw sums dy * xhat with |xhat| of
            // order 1 over rows whose signs cancel, so rounding is measured against sum |dy|.
            if (c == 1) refDw = new float[c];
            float[] dwScale = new float[c];
            for (int i = 0; i < n * c; i++) dwScale[i % c] += Math.abs(dy[i]);
            assertCloseScaled("cuda layernorm dw", download(dwz), refDw, dwScale, F32_TOL, ctx);
            assertClose("cuda layernorm db", download(dbz), refDb, F32_TOL, ctx);

            float[] firstDx = null;
            for (int blocks : BLOCKS) {
                Tensor dx = DeviceChecks.bf16(arena, dx0, n, c), dw = f32(arena, dw0, c), db = f32(arena, db0, c);
                NormKernels.layernormBackward(device(), dx, dw, db, tdy, tx, tw, mean, rstd, blocks);
                String at = ctx + ", " + blocks + " blocks";
                float[] got = download(dx);
                assertCloseScaled("cuda layernorm dx (+=)", got, add(dx0, refDx), dxScale, BF16_TOL, at);
                assertCloseScaled("cuda layernorm dw (+=)", download(dw), add(dw0, refDw), absSum(dw0, dwScale), F32_TOL, at);
                assertCloseScaled("cuda layernorm db (+=)", download(db), add(db0, refDb), db0, F32_TOL, at);
                if (firstDx == null) firstDx = got;
                assertArrayEquals(firstDx, got, "layernorm dx depends on the block count, " + at);
            }
        }
    }

    /** |a| + |b| element-wise: the scale of an accumulated a + b. */
    private static float[] absSum(float[] a, float[] b) {
        float[] s = new float[a.length];
        for (int i = 0; i < s.length; i++) s[i] = Math.abs(a[i]) + Math.abs(b[i]);
        return s;
    }

    @Test
    void badArgumentsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = device().allocate(arena, DType.BF16, 3, 8), w = device().allocate(arena, DType.BF16, 8);
            Tensor y = device().allocate(arena, DType.BF16, 3, 8), rstd = device().allocate(arena, DType.F32, 3);
            Tensor dw = device().allocate(arena, DType.F32, 8);
            assertThrows(IllegalArgumentException.class, () -> NormKernels.rmsnormForward(device(),
                    y, rstd, device().allocate(arena, DType.F32, 3, 8), w, 1e-5f));                  // x not BF16
            assertThrows(IllegalArgumentException.class, () -> NormKernels.rmsnormForward(device(),
                    y, rstd, x, device().allocate(arena, DType.BF16, 5), 1e-5f));                    // 24 is not rows of 5
            assertThrows(IllegalArgumentException.class, () -> NormKernels.rmsnormForward(device(),
                    y, device().allocate(arena, DType.F32, 4), x, w, 1e-5f));                        // rstd not [N]
            assertThrows(IllegalArgumentException.class, () -> NormKernels.rmsnormBackward(device(),
                    y, device().allocate(arena, DType.BF16, 8), y, x, w, rstd));                     // dw not F32
            assertThrows(IllegalArgumentException.class, () -> NormKernels.layernormBackward(device(),
                    y, dw, null, y, x, w, rstd, rstd));                                              // no dbias
            Tensor wide = device().allocate(arena, DType.BF16, 7000);
            assertThrows(IllegalArgumentException.class, () -> NormKernels.layernormBackward(device(),
                    wide, device().allocate(arena, DType.F32, 7000), device().allocate(arena, DType.F32, 7000),
                    wide, wide, wide, rstd.rows(0, 1), rstd.rows(0, 1)));                               // 2*C floats > 48 KiB
        }
    }
}
