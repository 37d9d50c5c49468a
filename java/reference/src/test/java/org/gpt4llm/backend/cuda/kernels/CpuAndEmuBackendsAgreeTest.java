package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cpu.KernelChecks.assertCloseScaled;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.BF16_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_SHORT_SUM_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.bf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.backend.cpu.KernelChecks;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LayerNorm, ReLU and the pairwise reward loss through the {@link Backend} interface: the fp32
 * {@code cpu} backend and {@code cuda-emu} (bf16 activations, the CUDA kernels) agree from the same
 * bf16-representable inputs, within the bf16 rounding of the emulated outputs.
 */
class CpuAndEmuBackendsAgreeTest {
    private static Backend cpu, emu;

    @BeforeAll
    static void open() {
        cpu = Backends.open("cpu", 2);
        emu = Backends.open("cuda-emu", 2);
    }

    @AfterAll
    static void close() throws Exception {
        emu.close();
        cpu.close();
        KernelChecks.report("backends");
    }

    /** A tensor of {@code b} in {@code dtype} holding v (rounded to bf16 when BF16). */
    private static Tensor put(Backend b, Arena arena, DType dtype, float[] v, long... shape) {
        Tensor t = b.allocate(arena, dtype, shape);
        b.upload(t, Tensor.of(arena, v, shape));
        return t;
    }

    /** BF16 on the emulated device, F32 on the cpu. */
    private static DType act(Backend b) {
        return b == emu ? DType.BF16 : DType.F32;
    }

    @ParameterizedTest(name = "C={0}")
    @ValueSource(ints = {77, 256})
    void layernormAgrees(int c) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", C=" + c;
        Random rng = new Random(seed);
        int n = 19;
        float eps = 1e-5f;
        float[] x = Numerics.normal(rng, n * c, 1.5f);
        for (int r = 0; r < n; r++) {
            float offset = 4f * (rng.nextFloat() - 0.5f);
            for (int j = 0; j < c; j++) x[r * c + j] += offset;
        }
        x = bf16(x);
        float[] w = bf16(Numerics.uniform(rng, c, 0.5f, 1.5f)), b = bf16(Numerics.normal(rng, c, 0.5f));
        float[] dy = bf16(Numerics.normal(rng, n * c, 1f)), dx0 = bf16(Numerics.normal(rng, n * c, 1f));
        float[] dw0 = Numerics.normal(rng, c, 1f), db0 = Numerics.normal(rng, c, 1f);
        float[][][] res = new float[2][][];
        try (Arena arena = Arena.ofConfined()) {
            int k = 0;
            for (Backend be : new Backend[] {cpu, emu}) {
                DType a = act(be);
                Tensor tx = put(be, arena, a, x, n, c), tw = put(be, arena, a, w, c), tb = put(be, arena, a, b, c);
                Tensor y = be.allocate(arena, a, n, c);
                Tensor mean = be.allocate(arena, DType.F32, n), rstd = be.allocate(arena, DType.F32, n);
                be.layernormForward(y, mean, rstd, tx, tw, tb, eps);
                Tensor dx = put(be, arena, a, dx0, n, c);
                Tensor dw = put(be, arena, DType.F32, dw0, c), db = put(be, arena, DType.F32, db0, c);
                be.layernormBackward(dx, dw, db, put(be, arena, a, dy, n, c), tx, tw, mean, rstd);
                res[k++] = new float[][] {be.download(y), be.download(mean), be.download(rstd), be.download(dx),
                        be.download(dw), be.download(db)};
            }
        }
        float[][] ref = res[0], got = res[1];
        assertClose("backends layernorm y", got[0], ref[0], BF16_TOL, ctx);
        assertClose("backends layernorm mean", got[1], ref[1], F32_TOL, ctx);
        assertClose("backends layernorm rstd", got[2], ref[2], F32_TOL, ctx);
        // dx: a difference of terms of size rstd*|dy*w|, accumulated onto dx0 and rounded to bf16
        float[] dxScale = new float[n * c];
        for (int i = 0; i < n * c; i++) dxScale[i] = Math.abs(dx0[i]) + Math.abs(ref[2][i / c] * w[i % c] * dy[i]);
        assertCloseScaled("backends layernorm dx", got[3], ref[3], dxScale, BF16_TOL, ctx);
        float[] dwScale = dw0.clone();
        for (int i = 0; i < n * c; i++) dwScale[i % c] = Math.abs(dwScale[i % c]) + Math.abs(dy[i]);
        assertCloseScaled("backends layernorm dw", got[4], ref[4], dwScale, F32_TOL, ctx);
        assertClose("backends layernorm db", got[5], ref[5], F32_TOL, ctx);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 37, 4099})
    void reluAgreesExactly(int n) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n;
        Random rng = new Random(seed);
        float[] x = bf16(Numerics.normal(rng, n, 1f)), dy = bf16(Numerics.normal(rng, n, 1f));
        for (int i = 0; i < n; i += 5) x[i] = 0f;
        float[][] y = new float[2][], dx = new float[2][];
        try (Arena arena = Arena.ofConfined()) {
            int k = 0;
            for (Backend be : new Backend[] {cpu, emu}) {
                Tensor tx = put(be, arena, act(be), x, n), ty = be.allocate(arena, act(be), n);
                be.reluForward(ty, tx);
                Tensor tdy = put(be, arena, act(be), dy, n);
                be.reluBackward(tdy, tdy, tx);  // in place over dy
                y[k] = be.download(ty);
                dx[k++] = be.download(tdy);
            }
        }
        // max(x, 0) of a bf16 value is that value: both backends hold the same bits
        assertArrayEquals(y[0], y[1], "relu y, " + ctx);
        assertArrayEquals(dx[0], dx[1], "relu dx, " + ctx);
    }

    @ParameterizedTest(name = "center={0}")
    @ValueSource(floats = {0f, 0.05f})
    void rewardLossAgrees(float centerCoef) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", center " + centerCoef;
        Random rng = new Random(seed);
        int[] offsets = {0, 2, 5, 9, 14, 17};
        int m = offsets[offsets.length - 1];
        float[] r = Numerics.normal(rng, m, 3f);
        float[] gold = new float[m];
        for (int i = 0; i < m; i++) gold[i] = rng.nextInt(3);  // ties
        gold[0] = 5f;
        float margin = 0.3f;
        float[][] loss = new float[2][], dr = new float[2][];
        int[] pairs = new int[2];
        try (Arena arena = Arena.ofConfined()) {
            int k = 0;
            for (Backend be : new Backend[] {cpu, emu}) {
                Tensor tl = be.allocate(arena, DType.F32, 1), td = be.allocate(arena, DType.F32, m);
                Tensor to = be.allocate(arena, DType.I32, offsets.length);
                be.upload(to, offsets);
                pairs[k] = be.rewardPairwiseLoss(tl, td, put(be, arena, DType.F32, r, m),
                        put(be, arena, DType.F32, gold, m), to, gold, offsets, margin, centerCoef);
                loss[k] = be.download(tl);
                dr[k++] = be.download(td);
            }
        }
        assertEquals(pairs[0], pairs[1], ctx);
        assertClose("backends reward loss", loss[1], loss[0], F32_SHORT_SUM_TOL, ctx);
        assertClose("backends reward dr", dr[1], dr[0], F32_SHORT_SUM_TOL, ctx);
    }
}
