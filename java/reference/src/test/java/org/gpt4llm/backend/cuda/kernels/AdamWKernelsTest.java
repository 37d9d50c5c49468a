package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_SHORT_SUM_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
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
import org.junit.jupiter.params.provider.ValueSource;

/**
 * kernels/adamw.cu (with the clip factor of kernels/global_norm.cu read on the device) through the
 * emulation, several steps against libtorch's torch::optim::AdamW after torch's clip_grad_norm_,
 * and against PyTorch's update rule in double.
 */
class AdamWKernelsTest {
    private static final int STEPS = 5;

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("adamw");
    }

    /** Odd steps clip to maxNorm with gradScale 1; even steps scale by 0.5 without clipping. */
    private static boolean clipped(int step) {
        return step % 2 == 1;
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 257, 3001})
    void matchesLibtorchWithClipping(int n) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n;
        Random rng = new Random(seed);
        float lr = 1e-3f * (1 + rng.nextInt(5)), beta1 = 0.9f, beta2 = rng.nextBoolean() ? 0.95f : 0.999f;
        float eps = 1e-8f, wd = 0.1f, halfScale = 0.5f;
        var hp = new Backend.AdamW(beta1, beta2, eps, wd);
        float[] p0 = Numerics.normal(rng, n, 0.05f);
        float[][] grads = new float[STEPS][];
        for (int s = 0; s < STEPS; s++) grads[s] = Numerics.normal(rng, n, s % 3 == 2 ? 0.01f : 1f);
        // half the first gradient's norm: step 1 is clipped, step 3 (100 times smaller) is not
        double norm1 = 0;
        for (float g : grads[0]) norm1 += (double) g * g;
        float maxNorm = (float) (0.5 * Math.sqrt(norm1));

        // libtorch: backward gives the gradient, clip_grad_norm_ scales it, AdamW steps
        float[] torchP;
        double[] factors = new double[STEPS];
        try (PointerScope scope = new PointerScope()) {
            var param = KernelChecks.leaf(p0, n);
            var options = new AdamWOptions(lr);
            options.betas().put(0, beta2).put(1, beta1);  // std::tuple, stored last element first
            options.eps().put(eps);
            options.weight_decay().put(wd);
            var opt = new org.bytedeco.pytorch.AdamW(new TensorVector(param), options);
            for (int s = 1; s <= STEPS; s++) {
                opt.zero_grad();
                float[] g = grads[s - 1].clone();
                if (!clipped(s)) for (int i = 0; i < n; i++) g[i] *= halfScale;
                param.mul(Torch.floats(g, n)).sum().backward();  // d/dparam = g
                double norm = clipped(s) ? torch.clip_grad_norm_(new TensorVector(param), maxNorm) : 0;
                factors[s - 1] = clipped(s) ? Math.min(1.0, maxNorm / (norm + 1e-6)) : 1.0;
                opt.step();
            }
            torchP = Torch.toFloats(param.detach());
        }
        assertTrue(Arrays.stream(factors).anyMatch(f -> f < 0.9), "no step was clipped, " + ctx);

        // PyTorch's rule in double, with the clip factors libtorch used
        double[] p = new double[n], m = new double[n], v = new double[n];
        for (int i = 0; i < n; i++) p[i] = p0[i];
        for (int s = 1; s <= STEPS; s++) {
            double bc1 = 1 - Math.pow(beta1, s), bc2 = 1 - Math.pow(beta2, s);
            double scale = clipped(s) ? factors[s - 1] : halfScale;
            for (int i = 0; i < n; i++) {
                double g = grads[s - 1][i] * scale;
                p[i] *= 1 - (double) lr * wd;
                m[i] = beta1 * m[i] + (1 - (double) beta1) * g;
                v[i] = beta2 * v[i] + (1 - (double) beta2) * g * g;
                p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
            }
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor param = device().allocate(arena, DType.BF16, n);
            Tensor master = DeviceChecks.f32(arena, p0, n);
            Tensor tm = device().allocate(arena, DType.F32, n), tv = device().allocate(arena, DType.F32, n);
            Tensor sumsq = device().allocate(arena, DType.F32, 1), factor = device().allocate(arena, DType.F32, 1);
            for (int s = 1; s <= STEPS; s++) {
                Tensor grad = DeviceChecks.f32(arena, grads[s - 1], n);
                if (clipped(s)) {
                    NormClipKernels.sumOfSquares(device(), sumsq, List.of(grad));
                    NormClipKernels.clipFactor(device(), factor, sumsq, maxNorm);
                    AdamWKernels.adamw(device(), param, master, grad, tm, tv, hp, lr, s, 1f, factor);
                } else {
                    AdamWKernels.adamw(device(), param, master, grad, tm, tv, hp, lr, s, halfScale, null);
                }
            }
            float[] ours = download(master);
            assertClose("adamw master vs libtorch", ours, torchP, F32_SHORT_SUM_TOL, ctx);
            assertClose("adamw master vs fp64 rule", ours, toFloat(p), F32_SHORT_SUM_TOL, ctx);
            assertClose("adamw m vs fp64 rule", download(tm), toFloat(m), F32_SHORT_SUM_TOL, ctx);
            assertClose("adamw v vs fp64 rule", download(tv), toFloat(v), F32_SHORT_SUM_TOL, ctx);
            // the movement itself, measured against its natural size (about lr per step)
            float[] moved = new float[n], refMoved = new float[n];
            for (int i = 0; i < n; i++) {
                moved[i] = ours[i] - p0[i];
                refMoved[i] = (float) (p[i] - p0[i]);
            }
            double num = 0, den = 0;
            for (int i = 0; i < n; i++) {
                num += Math.pow(moved[i] - refMoved[i], 2);
                den += Math.max(refMoved[i] * refMoved[i], Math.pow(lr * STEPS, 2));
            }
            double err = Math.sqrt(num / den);
            KernelChecks.record("adamw master - p0 vs fp64 rule", err);
            assertTrue(err < F32_SHORT_SUM_TOL * 10, "adamw movement error " + err + " (" + ctx + ")");
            // the bf16 working copy is the master rounded to nearest even, bit for bit
            assertArrayEquals(DeviceChecks.bf16(ours), download(param), "bf16 copy of the master weights, " + ctx);
        }
    }

    @Test
    void argumentsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor bf = device().allocate(arena, DType.BF16, 4), f = device().allocate(arena, DType.F32, 4);
            Tensor f5 = device().allocate(arena, DType.F32, 5);
            var hp = Backend.AdamW.DEFAULT;
            var e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device(), f, f, f, f, f, hp, 1e-3f, 1, 1f, null));
            assertTrue(e.getMessage().contains("adamw param must be BF16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device(), bf, f, f5, f, f, hp, 1e-3f, 1, 1f, null));
            assertTrue(e.getMessage().contains("adamw grad"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device(), bf, f, f, f, f, hp, 1e-3f, 0, 1f, null));
            assertTrue(e.getMessage().contains("step counts from 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device(), bf, f, f, f, f, hp, 1e-3f, 1, 1f, f));
            assertTrue(e.getMessage().contains("clip factor"), e.getMessage());
        }
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }
}
