package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Checks.assertClose;
import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.optim.AdamWOptimizer;
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
 * The global gradient norm: {@link Backend#sumOfSquares} of one tensor and of several on every backend
 * against sums in double (libtorch's and a sequential one), and global-norm clipping as the optimizer
 * applies it (the norm over all gradients, then PyTorch's clip_grad_norm_ factor folded into the AdamW
 * update) against libtorch's clip_grad_norm_ and AdamW.
 */
class GradNormContractTest {
    @AfterAll
    static void report() {
        Checks.report("gradclip");
    }

    /**
     * The relative error of a sum of squares. The CPU accumulates in fp64: a few ulps of 2^-53. A GPU
     * sums in fp32, each thread its slice, then a tree over the block, then one atomic add per block;
     * all terms are positive, so each addition errs by at most 2^-24 of the total: within about
     * log2(n) ulps, 2e-6.
     */
    private static double sumsqTol(Target t) {
        return t.bf16() ? 2e-6 : 1e-12;
    }

    /** n: less than a GPU block's pass, a few blocks, more than one pass of 8 per thread; then big. */
    static Stream<Arguments> sizes() {
        return Stream.concat(Target.crossed(new Object[] {1}, new Object[] {7}, new Object[] {33}, new Object[] {257},
                        new Object[] {4097}, new Object[] {2048 * 8 + 5}),
                Target.notEmulated(new Object[] {100003}, new Object[] {300007}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("sizes")
    void sumOfSquaresInDouble(Target t, int n) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n;
        Random rng = new Random(seed);
        float[] x = Numerics.normal(rng, n, 1f);
        x[rng.nextInt(n)] = 1e4f;  // mixed magnitudes: fp32 accumulation into one sum would lose the small terms
        double seq = 0;
        for (float f : x) seq += (double) f * f;  // sequential fp64
        final double exact = seq, ref;
        try (PointerScope scope = new PointerScope()) {
            ref = Torch.floats(x, n).to(torch.ScalarType.Double).pow(new Scalar(2.0)).sum().item_double();
        }
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor tx = t.f32(arena, x, n);
                double got = be.sumOfSquares(tx);
                double err = Math.abs(got - ref) / ref;
                Checks.record(t, "gradclip sum of squares", err);
                assertTrue(err < sumsqTol(t), t + " sum of squares " + got + " vs libtorch " + ref + ", " + ctx);
                assertTrue(Math.abs(got - exact) / exact < sumsqTol(t), t + " sum of squares " + got + " vs " + exact + ", " + ctx);
                if (t.bf16()) return;  // a GPU's atomics add the blocks' partial sums in any order
                // the same bits on every call and every thread count
                for (int threads : new int[] {1, 2, 3}) {
                    CpuKernels.setNumThreads(threads);
                    try {
                        assertEquals(got, be.sumOfSquares(tx), t + " sum of squares on " + threads + " threads, " + ctx);
                    } finally {
                        CpuKernels.setNumThreads(be.threads());
                    }
                }
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void sumOfSquaresOverSeveralTensors(Target t) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed;
        Random rng = new Random(seed);
        int[] sizes = {1, 300, 4097, 2048 * 8 + 5};
        List<float[]> values = new ArrayList<>();
        double ref = 0;
        for (int size : sizes) {
            float[] x = Numerics.normal(rng, size, 0.1f + rng.nextFloat() * 3);
            for (float f : x) ref += (double) f * f;
            values.add(x);
        }
        final double total = ref;
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                List<Tensor> tensors = new ArrayList<>();
                for (float[] x : values) tensors.add(t.f32(arena, x, x.length));
                // twice: each call starts from zero
                for (int call = 0; call < 2; call++) {
                    double got = be.sumOfSquares(tensors);
                    double err = Math.abs(got - total) / total;
                    Checks.record(t, "gradclip sum of squares (several)", err);
                    assertTrue(err < sumsqTol(t), t + " sum of squares " + got + " vs " + total + ", call " + call + ", " + ctx);
                }
                assertEquals(0.0, be.sumOfSquares(List.of()), t + " sum of squares of no tensors");
            }
        });
    }

    /**
     * Clipping as a training step applies it, through {@link AdamWOptimizer#step}: over two parameters,
     * clipped steps (maxNorm below the norm), a step without clipping (maxNorm 0) and one whose
     * maxNorm is above the norm. Checked against libtorch (clip_grad_norm_, then AdamW) and PyTorch's
     * rule in double: the norm each step returns, and the moments, which are proportional to the
     * clipped gradient (Adam's update itself hardly depends on the gradient's scale); the parameters
     * as stored (bf16 working copies on a GPU).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void clippingMatchesLibtorch(Target t) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed;
        Random rng = new Random(seed);
        String[] names = {"a", "b"};
        int[] sizes = {257, 33};
        int steps = 4;
        float lr = 1e-3f * (1 + rng.nextInt(5)), beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, wd = 0.1f;
        var hp = new Backend.AdamW(beta1, beta2, eps, wd);
        float[][] p0 = new float[2][];
        float[][][] grads = new float[steps][2][];
        for (int k = 0; k < 2; k++) p0[k] = t.held(Numerics.normal(rng, sizes[k], 0.05f));
        for (int s = 0; s < steps; s++) {
            for (int k = 0; k < 2; k++) grads[s][k] = Numerics.normal(rng, sizes[k], s == 2 ? 0.01f : 1f);
        }
        double[] norms = new double[steps];
        for (int s = 0; s < steps; s++) {
            double sq = 0;
            for (float[] g : grads[s]) for (float f : g) sq += (double) f * f;
            norms[s] = Math.sqrt(sq);
        }
        // clipped to half, not clipped (0 disables), clipped, and a maxNorm above the norm
        float[] maxNorm = {(float) (0.5 * norms[0]), 0f, (float) (0.2 * norms[2]), (float) (2 * norms[3])};

        // PyTorch's rule in double with clip_grad_norm_'s factor
        double[][] p = new double[2][], m = new double[2][], v = new double[2][];
        for (int k = 0; k < 2; k++) {
            p[k] = new double[sizes[k]];
            m[k] = new double[sizes[k]];
            v[k] = new double[sizes[k]];
            for (int i = 0; i < sizes[k]; i++) p[k][i] = p0[k][i];
        }
        for (int s = 1; s <= steps; s++) {
            double factor = maxNorm[s - 1] > 0 ? Math.min(1, maxNorm[s - 1] / (norms[s - 1] + 1e-6)) : 1;
            double bc1 = 1 - Math.pow(beta1, s), bc2 = 1 - Math.pow(beta2, s);
            for (int k = 0; k < 2; k++) {
                for (int i = 0; i < sizes[k]; i++) {
                    double g = grads[s - 1][k][i] * factor;
                    p[k][i] *= 1 - (double) lr * wd;
                    m[k][i] = beta1 * m[k][i] + (1 - (double) beta1) * g;
                    v[k][i] = beta2 * v[k][i] + (1 - (double) beta2) * g * g;
                    p[k][i] -= lr / bc1 * m[k][i] / (Math.sqrt(v[k][i]) / Math.sqrt(bc2) + eps);
                }
            }
        }

        // libtorch: backward gives the gradient, clip_grad_norm_ scales it, AdamW steps
        float[][] torchP = new float[2][];
        double[] torchNorms = new double[steps];
        try (PointerScope scope = new PointerScope()) {
            var ta = TorchRef.leaf(p0[0], sizes[0]);
            var tb = TorchRef.leaf(p0[1], sizes[1]);
            var opt = new org.bytedeco.pytorch.AdamW(new TensorVector(ta, tb), Torch.adamWOptions(lr, beta1, beta2, eps, wd));
            for (int s = 0; s < steps; s++) {
                opt.zero_grad();
                ta.mul(Torch.floats(grads[s][0], sizes[0])).sum().add(tb.mul(Torch.floats(grads[s][1], sizes[1])).sum()).backward();
                if (maxNorm[s] > 0) torchNorms[s] = torch.clip_grad_norm_(new TensorVector(ta, tb), maxNorm[s]);
                opt.step();
            }
            torchP[0] = Torch.toFloats(ta.detach());
            torchP[1] = Torch.toFloats(tb.detach());
        }

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Map<String, Tensor> params = new LinkedHashMap<>(), gradTensors = new LinkedHashMap<>();
                for (int k = 0; k < 2; k++) {
                    params.put(names[k], t.put(arena, be.weightType(), p0[k], sizes[k]));
                    gradTensors.put(names[k], be.allocate(arena, DType.F32, sizes[k]));
                }
                try (AdamWOptimizer opt = new AdamWOptimizer(be, params, gradTensors, hp)) {
                    for (int s = 0; s < steps; s++) {
                        for (int k = 0; k < 2; k++) be.upload(gradTensors.get(names[k]), Tensor.of(arena, grads[s][k], sizes[k]));
                        double norm = opt.step(lr, maxNorm[s]);
                        double err = Math.abs(norm - norms[s]) / norms[s];
                        Checks.record(t, "gradclip global l2 of several gradients", err);
                        assertTrue(err < sumsqTol(t), t + " step " + (s + 1) + " norm " + norm + " vs " + norms[s] + ", " + ctx);
                        if (maxNorm[s] > 0) {
                            assertClose(t, "gradclip global l2 vs libtorch", new float[] {(float) norm},
                                    new float[] {(float) torchNorms[s]}, t.tol(F32_SHORT), ctx + ", step " + (s + 1));
                        }
                    }
                    for (int k = 0; k < 2; k++) {
                        String c = ctx + ", parameter " + names[k];
                        assertClose(t, "gradclip step m vs fp64 rule", t.get(opt.moments(false).get(names[k])), toFloat(m[k]),
                                t.tol(F32_SHORT), c);
                        assertClose(t, "gradclip step v vs fp64 rule", t.get(opt.moments(true).get(names[k])), toFloat(v[k]),
                                t.tol(F32_SHORT), c);
                        float[] ours = t.get(params.get(names[k]));
                        // the parameters as stored: fp32 on the CPU, the master's bf16 copy on a GPU
                        double tol = t.bf16() ? t.tol(STORED) : t.tol(F32_SHORT);
                        assertClose(t, "gradclip step p vs fp64 rule", ours, t.held(toFloat(p[k])), tol, c);
                        assertClose(t, "gradclip step p vs libtorch", ours, t.held(torchP[k]), tol, c);
                    }
                }
            }
        });
    }

    /** A gradient norm that is not finite stops the step: it is returned, and nothing is updated. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void aNonFiniteNormUpdatesNothing(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 41;
        float[] p0 = t.held(Numerics.normal(rng, n, 0.05f));
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor param = t.put(arena, be.weightType(), p0, n);
                Tensor grad = t.f32(arena, Numerics.normal(rng, n, 1f), n);
                try (AdamWOptimizer opt = new AdamWOptimizer(be, Map.of("w", param), Map.of("w", grad), Backend.AdamW.DEFAULT)) {
                    for (float bad : new float[] {Float.POSITIVE_INFINITY, Float.NaN}) {
                        float[] g = Numerics.normal(rng, n, 1f);
                        g[rng.nextInt(n)] = bad;
                        be.upload(grad, Tensor.of(arena, g, n));
                        double norm = opt.step(1e-3f, 1f);
                        assertTrue(Double.isNaN(bad) ? Double.isNaN(norm) : norm == Double.POSITIVE_INFINITY,
                                t + " norm " + norm + " for a gradient holding " + bad + ", seed " + seed);
                        assertArrayEquals(p0, t.get(param), t + " parameter updated by a gradient holding " + bad + ", seed " + seed);
                        assertArrayEquals(new float[n], t.get(opt.moments(false).get("w")), t + " m updated, seed " + seed);
                        assertArrayEquals(new float[n], t.get(opt.moments(true).get("w")), t + " v updated, seed " + seed);
                        assertEquals(0, opt.stepCount(), t + " step counted, seed " + seed);
                    }
                }
            }
        });
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }
}
