package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Checks.assertClose;
import static org.gpt4llm.backend.contract.Checks.assertCloseScaled;
import static org.gpt4llm.backend.contract.Checks.sub;
import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.TensorVector;
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
 * Several {@link Backend#adamw} steps on every backend against libtorch's torch::optim::AdamW (the C++
 * twin of torch.optim.AdamW) and PyTorch's update rule evaluated in double, with a gradient scale
 * that changes from step to step (the optimizer folds the clip factor into it). On a GPU the
 * parameter is a bf16 working copy of an fp32 master: the master is updated and the copy is the
 * master rounded to nearest even, bit for bit. On the CPU the fp32 parameter is updated in place, and
 * a bf16 parameter with an fp32 master works as on a GPU.
 */
class AdamWContractTest {
    private static final int STEPS = 6;
    /** The gradient scale of each step: 1 (none), halves, and clip-like factors. */
    private static final float[] SCALES = {0.5f, 1f, 0.3712f, 0.5f, 1f, 0.8125f};

    @AfterAll
    static void report() {
        Checks.report("adamw");
    }

    /** n: 3001 is a dozen GPU blocks; 70001 several CPU work chunks. */
    static Stream<Arguments> sizes() {
        return Stream.concat(Target.crossed(new Object[] {1}, new Object[] {7}, new Object[] {33}, new Object[] {257},
                new Object[] {3001}), Target.notEmulated(new Object[] {70001}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("sizes")
    void matchesPyTorch(Target t, int n) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n;
        Random rng = new Random(seed);
        float lr = 1e-3f * (1 + rng.nextInt(5)), beta1 = 0.9f, beta2 = rng.nextBoolean() ? 0.95f : 0.999f;
        float eps = 1e-8f, wd = 0.1f;
        var hp = new Backend.AdamW(beta1, beta2, eps, wd);
        // weights of the size an initialisation gives them, so the few steps' movement is well
        // above the rounding of p and can be compared on its own
        float[] p0 = Numerics.normal(rng, n, 0.05f);
        float[][] grads = new float[STEPS][];
        for (int s = 0; s < STEPS; s++) grads[s] = Numerics.normal(rng, n, s % 3 == 2 ? 0.01f : 1f);

        // PyTorch's rule in double
        double[] p = new double[n], m = new double[n], v = new double[n];
        for (int i = 0; i < n; i++) p[i] = p0[i];
        for (int s = 1; s <= STEPS; s++) {
            double bc1 = 1 - Math.pow(beta1, s), bc2 = 1 - Math.pow(beta2, s);
            for (int i = 0; i < n; i++) {
                double g = (double) grads[s - 1][i] * SCALES[s - 1];
                p[i] *= 1 - (double) lr * wd;
                m[i] = beta1 * m[i] + (1 - (double) beta1) * g;
                v[i] = beta2 * v[i] + (1 - (double) beta2) * g * g;
                p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
            }
        }
        float[] refP = toFloat(p), refM = toFloat(m), refV = toFloat(v);

        // libtorch's optimizer, fed the already scaled gradient
        float[] torchP;
        try (PointerScope scope = new PointerScope()) {
            var param = TorchRef.leaf(p0, n);
            var opt = new org.bytedeco.pytorch.AdamW(new TensorVector(param), Torch.adamWOptions(lr, beta1, beta2, eps, wd));
            for (int s = 0; s < STEPS; s++) {
                opt.zero_grad();
                float[] g = grads[s].clone();
                for (int i = 0; i < n; i++) g[i] *= SCALES[s];
                param.mul(Torch.floats(g, n)).sum().backward();  // d/dparam = g
                opt.step();
            }
            torchP = Torch.toFloats(param.detach());
        }
        // the movement is measured against its natural size (Adam moves each weight by about lr per
        // step), not hidden behind |p|: where m nearly cancels it is small and only known to the fp32
        // rounding of m's terms. p itself is measured against the larger of |p| and that size: a weight
        // the steps carried close to 0 is known to the movement's rounding, not to its own
        float[] natural = new float[n];
        Arrays.fill(natural, lr * STEPS);

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                float[][] withMaster = steps(t, arena, hp, lr, p0, grads, DType.BF16);
                float[][] results = t.bf16() ? withMaster : steps(t, arena, hp, lr, p0, grads, DType.F32);
                float[] ours = results[0];
                assertCloseScaled(t, "adamw p vs fp64 rule", ours, refP, natural, t.tol(F32_SHORT), ctx);
                assertClose(t, "adamw m vs fp64 rule", results[1], refM, t.tol(F32_SHORT), ctx);
                assertClose(t, "adamw v vs fp64 rule", results[2], refV, t.tol(F32_SHORT), ctx);
                assertCloseScaled(t, "adamw p vs libtorch", ours, torchP, natural, t.tol(F32_SHORT), ctx);
                assertCloseScaled(t, "adamw p - p0 vs fp64 rule", sub(ours, p0), sub(refP, p0), natural, t.tol(F32_SHORT), ctx);
                // the bf16 working copy is the master rounded to nearest even, and the master is
                // what the update in place gives
                assertArrayEquals(Bf16.round(withMaster[0]), withMaster[3], t + " bf16 copy of the master weights, " + ctx);
                if (withMaster != results) {
                    for (int k = 0; k < 3; k++) {
                        assertArrayEquals(results[k], withMaster[k], t + " adamw with a master differs in output " + k + ", " + ctx);
                    }
                }
            }
        });
    }

    /**
     * Runs the steps on a parameter of {@code paramType}: F32 is updated in place, BF16 through an
     * F32 master copy. Returns {p (the master where there is one), m, v, the parameter's values}.
     */
    private static float[][] steps(Target t, Arena arena, Backend.AdamW hp, float lr, float[] p0, float[][] grads,
                                   DType paramType) {
        Backend be = t.backend();
        int n = p0.length;
        Tensor param = t.put(arena, paramType, p0, n);
        Tensor master = paramType == DType.F32 ? null : t.f32(arena, p0, n);
        Tensor m = be.allocate(arena, DType.F32, n), v = be.allocate(arena, DType.F32, n);
        for (int s = 1; s <= STEPS; s++) {
            be.adamw(param, master, t.f32(arena, grads[s - 1], n), m, v, hp, lr, s, SCALES[s - 1]);
        }
        return new float[][] {t.get(master == null ? param : master), t.get(m), t.get(v), t.get(param)};
    }

    /** Tensors of different sizes are refused; so is a GPU parameter without its fp32 master. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void argumentsAreChecked(Target t) {
        Backend be = t.backend();
        var hp = Backend.AdamW.DEFAULT;
        try (Arena arena = Arena.ofConfined()) {
            Tensor p = be.allocate(arena, be.weightType(), 4), master = be.allocate(arena, DType.F32, 4);
            Tensor f = be.allocate(arena, DType.F32, 4), f5 = be.allocate(arena, DType.F32, 5);
            assertThrows(IllegalArgumentException.class, () -> be.adamw(p, master, f5, f, f, hp, 1e-3f, 1, 1f));
            assertThrows(IllegalArgumentException.class, () -> be.adamw(p, master, f, f5, f, hp, 1e-3f, 1, 1f));
            assertThrows(IllegalArgumentException.class, () -> be.adamw(p, master, f, f, f5, hp, 1e-3f, 1, 1f));
            if (t.bf16()) assertThrows(IllegalArgumentException.class, () -> be.adamw(p, null, f, f, f, hp, 1e-3f, 1, 1f));
        }
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }
}
