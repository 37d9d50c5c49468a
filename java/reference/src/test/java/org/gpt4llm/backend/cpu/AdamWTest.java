package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.TensorVector;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Several AdamW steps against libtorch's torch::optim::AdamW (the C++ twin of torch.optim.AdamW)
 * and against PyTorch's update rule evaluated in double.
 */
class AdamWTest {
    private static final CpuBackend CPU = new CpuBackend(2);
    private static final int STEPS = 6;

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("adamw");
    }

    static Stream<Arguments> cases() {
        int[] ns = {1, 7, 33, 257, 70001};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int n : ns) b.add(Arguments.of(n, scalar));
        }
        return b.build();
    }

    @ParameterizedTest(name = "n={0} scalar={1}")
    @MethodSource("cases")
    void matchesPyTorch(int n, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float lr = 1e-3f * (1 + rng.nextInt(5)), beta1 = 0.9f, beta2 = rng.nextBoolean() ? 0.95f : 0.999f;
        float eps = 1e-8f, wd = 0.1f, gradScale = 0.5f;
        var hp = new Backend.AdamW(beta1, beta2, eps, wd);
        // weights of the size an initialisation gives them, so the few steps' movement is well
        // above the rounding of p and can be compared on its own
        float[] p0 = Numerics.normal(rng, n, 0.05f);
        float[][] grads = new float[STEPS][];
        for (int s = 0; s < STEPS; s++) grads[s] = Numerics.normal(rng, n, s % 2 == 0 ? 1f : 0.01f);

        // PyTorch's rule in double
        double[] p = new double[n], m = new double[n], v = new double[n];
        for (int i = 0; i < n; i++) p[i] = p0[i];
        for (int s = 1; s <= STEPS; s++) {
            double bc1 = 1 - Math.pow(beta1, s), bc2 = 1 - Math.pow(beta2, s);
            for (int i = 0; i < n; i++) {
                double g = (double) grads[s - 1][i] * gradScale;
                p[i] *= 1 - (double) lr * wd;
                m[i] = beta1 * m[i] + (1 - (double) beta1) * g;
                v[i] = beta2 * v[i] + (1 - (double) beta2) * g * g;
                p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
            }
        }

        // libtorch's optimizer, fed the already scaled gradient
        float[] torchP;
        try (PointerScope scope = new PointerScope()) {
            var param = KernelChecks.leaf(p0, n);
            var options = new AdamWOptions(lr);
            // betas is a std::tuple<double, double>; libstdc++ stores its elements last first
            options.betas().put(0, beta2).put(1, beta1);
            options.eps().put(eps);
            options.weight_decay().put(wd);
            var opt = new org.bytedeco.pytorch.AdamW(new TensorVector(param), options);
            for (int s = 0; s < STEPS; s++) {
                opt.zero_grad();
                float[] g = grads[s].clone();
                for (int i = 0; i < n; i++) g[i] *= gradScale;
                param.mul(Torch.floats(g, n)).sum().backward();  // d/dparam = g
                opt.step();
            }
            torchP = Torch.toFloats(param.detach());
        }

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tp = Tensor.of(arena, p0, n);
                Tensor tm = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, n);
                Tensor tv = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, n);
                for (int s = 1; s <= STEPS; s++) {
                    CPU.adamw(tp, null, Tensor.of(arena, grads[s - 1], n), tm, tv, hp, lr, s, gradScale);
                }
                float[] ours = tp.toFloatArray();
                assertClose("adamw p vs fp64 rule", ours, toFloat(p), FP32_TOL, ctx);
                assertClose("adamw m vs fp64 rule", tm.toFloatArray(), toFloat(m), FP32_TOL, ctx);
                assertClose("adamw v vs fp64 rule", tv.toFloatArray(), toFloat(v), FP32_TOL, ctx);
                assertClose("adamw p vs libtorch", ours, torchP, FP32_TOL, ctx);
                // the movement itself, not hidden behind |p|; measured against its natural size
                // (Adam moves each weight by about lr per step), since where m nearly cancels the
                // movement is small and only known to fp32 rounding of m's terms
                float[] moved = KernelChecks.sub(ours, p0), refMoved = KernelChecks.sub(toFloat(p), p0);
                float[] natural = new float[n];
                java.util.Arrays.fill(natural, lr * STEPS);
                KernelChecks.assertCloseScaled("adamw p - p0 vs fp64 rule", moved, refMoved, natural, FP32_TOL, ctx);
            }
        });
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }
}
