package org.gpt4llm.backend.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * y = a + b (activations, y may be a or b) and x *= s (F32) on every backend, bit for bit against
 * libtorch: both are one fp32 operation per element, rounded once to the storage type (libtorch's
 * own bf16 rounding where the backend stores bf16). Tensors aligned and one element off.
 */
class ElementwiseContractTest {
    /** n, aligned: 4099 ends a GPU launch in a tail of 3; 16385 and more are several CPU work chunks. */
    static Stream<Arguments> sizes() {
        Stream.Builder<Object[]> small = Stream.builder();
        for (boolean aligned : new boolean[] {true, false}) {
            for (int n : new int[] {1, 7, 8, 33, 257, 1000, 4099}) small.add(new Object[] {n, aligned});
        }
        return Stream.concat(Target.crossed(small.build().toArray(Object[][]::new)), Target.notEmulated(
                new Object[] {16385, true}, new Object[] {100003, true}, new Object[] {300007, true}, new Object[] {100003, false}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    private static Tensor in(Target t, Arena arena, DType dtype, float[] v, boolean aligned) {
        return aligned ? t.put(arena, dtype, v, v.length) : t.misaligned(arena, dtype, v);
    }

    /** v as the target stores an activation, rounded by libtorch (an independent rounding). */
    private static float[] stored(Target t, org.bytedeco.pytorch.Tensor v) {
        return Torch.toFloats(t.bf16() ? v.to(torch.ScalarType.BFloat16) : v);
    }

    @ParameterizedTest(name = "{0} n={1} aligned={2}")
    @MethodSource("sizes")
    void addIsExactlyRounded(Target t, int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        float[] a = t.held(Numerics.normal(rng, n, 1f)), b = t.held(Numerics.normal(rng, n, 3f));
        float[] ref;
        try (PointerScope scope = new PointerScope()) {
            ref = stored(t, Torch.floats(a, n).add(Torch.floats(b, n)));  // fp32 sum, one rounding
        }
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor ta = in(t, arena, t.act(), a, aligned), tb = in(t, arena, t.act(), b, aligned);
                Tensor y = in(t, arena, t.act(), Numerics.normal(new Random(seed + 1), n, 1f), aligned);  // overwritten
                be.add(y, ta, tb);
                assertArrayEquals(ref, t.get(y), t + " y = a + b, " + ctx);
                be.add(tb, ta, tb);  // y aliasing b
                assertArrayEquals(ref, t.get(tb), t + " b = a + b, " + ctx);
                tb = in(t, arena, t.act(), b, aligned);
                be.add(ta, ta, tb);  // y aliasing a
                assertArrayEquals(ref, t.get(ta), t + " a = a + b, " + ctx);
            }
        });
    }

    @ParameterizedTest(name = "{0} n={1} aligned={2}")
    @MethodSource("sizes")
    void scaleIsExactlyRounded(Target t, int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        // every scale of magnitude (products overflow and go subnormal), and special values
        float[] special = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MAX_VALUE,
                Float.MIN_VALUE, -1e-39f};
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = i < special.length && i < n / 2 ? special[i]
                    : (float) (rng.nextGaussian() * Math.pow(2, rng.nextInt(200) - 100));
        }
        float s = (float) rng.nextGaussian();
        float[] ref;
        try (PointerScope scope = new PointerScope()) {
            ref = Torch.toFloats(Torch.floats(x, n).mul(new Scalar(s)));
        }
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tx = in(t, arena, DType.F32, x, aligned);
                t.backend().scale(tx, s);
                assertArrayEquals(ref, t.get(tx), t + " x *= " + s + ", " + ctx);
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void mismatchedTensorsAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = be.allocate(arena, t.act(), 6), shorter = be.allocate(arena, t.act(), 5);
            Tensor wrong = be.allocate(arena, t.bf16() ? DType.F32 : DType.BF16, 6);
            assertThrows(IllegalArgumentException.class, () -> be.add(a, a, shorter));
            assertThrows(IllegalArgumentException.class, () -> be.add(shorter, a, a));
            assertThrows(IllegalArgumentException.class, () -> be.add(a, wrong, a));
            assertThrows(IllegalArgumentException.class, () -> be.scale(be.allocate(arena, DType.BF16, 6), 2f));  // F32 only
        }
    }
}
