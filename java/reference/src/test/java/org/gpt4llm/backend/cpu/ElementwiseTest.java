package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** add, scale and the fp64 sum of squares against libtorch. */
class ElementwiseTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("sumsq");
    }

    static Stream<Arguments> sizes() {
        int[] ns = {1, 7, 33, 257, 16385, 100003, 300007};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int n : ns) b.add(Arguments.of(n, scalar));
        }
        return b.build();
    }

    @ParameterizedTest(name = "n={0} scalar={1}")
    @MethodSource("sizes")
    void addAndScaleAreExactlyRounded(int n, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float[] a = Numerics.normal(rng, n, 1f), b = Numerics.normal(rng, n, 3f);
        float s = (float) rng.nextGaussian();
        float[] refSum, refScaled;
        try (PointerScope scope = new PointerScope()) {
            refSum = Torch.toFloats(Torch.floats(a, n).add(Torch.floats(b, n)));
            refScaled = Torch.toFloats(Torch.floats(a, n).mul(new Scalar(s)));
        }
        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor ta = Tensor.of(arena, a, n), tb = Tensor.of(arena, b, n);
                Tensor y = Tensor.of(arena, Numerics.normal(new Random(seed + 1), n, 1f), n);  // overwritten
                CPU.add(y, ta, tb);
                assertArrayEquals(refSum, y.toFloatArray(), "y = a + b, " + ctx);
                CPU.add(ta, ta, tb);  // y aliasing a
                assertArrayEquals(refSum, ta.toFloatArray(), "a = a + b, " + ctx);
                Tensor x = Tensor.of(arena, a, n);
                CPU.scale(x, s);
                assertArrayEquals(refScaled, x.toFloatArray(), "x *= s, " + ctx);
            }
        });
    }

    @ParameterizedTest(name = "n={0} scalar={1}")
    @MethodSource("sizes")
    void sumOfSquaresInDouble(int n, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float[] x = Numerics.normal(rng, n, 1f);
        x[rng.nextInt(n)] = 1e4f;  // mixed magnitudes: fp32 accumulation would lose the small terms
        double seq = 0;
        for (float v : x) seq += (double) v * v;  // reference: sequential fp64
        final double exact = seq;
        final double ref;
        try (PointerScope scope = new PointerScope()) {
            ref = Torch.floats(x, n).to(torch.ScalarType.Double).pow(new Scalar(2.0)).sum().item_double();
        }
        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor t = Tensor.of(arena, x, n);
                double got = CPU.sumOfSquares(t);
                double err = Math.abs(got - ref) / ref;
                KernelChecks.record("sumsq vs libtorch fp64", err);
                assertTrue(err < 1e-12, "sumsq " + got + " vs libtorch " + ref + ", " + ctx);
                assertTrue(Math.abs(got - exact) / exact < 1e-12, "sumsq " + got + " vs " + exact + ", " + ctx);
                // the same bits on every call and every thread count
                for (int threads : new int[] {1, 2, 3}) {
                    CpuKernels.setNumThreads(threads);
                    try {
                        assertEquals(got, CPU.sumOfSquares(t), "sumsq on " + threads + " threads, " + ctx);
                    } finally {
                        CpuKernels.setNumThreads(CPU.threads());
                    }
                }
            }
        });
    }
}
