package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.DeviceTensors.bf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The norm kernels' backward launched with one block, two blocks and the default count (one per row
 * here) gives the same dx bits (each row's dx is one block's work) and dweight/dbias equal up to the
 * order of their fp32 sums; the launchers refuse arguments of the wrong type or size. The values
 * themselves are checked against libtorch on every backend by the norm contract test.
 */
class NormLaunchTest {
    private static final int[] BLOCKS = {1, 2, NormKernels.BACKWARD_BLOCKS};

    static Stream<Arguments> shapes() {
        return DeviceTensors.crossed(new Object[] {19, 33}, new Object[] {3, 264}, new Object[] {3, 2056});
    }

    @ParameterizedTest(name = "{0} N={1} C={2}")
    @MethodSource("shapes")
    void backwardDoesNotDependOnTheBlockCount(DeviceTensors on, int n, int c) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c;
        float[] x = bf16(Numerics.normal(rng, n * c, 2f)), w = bf16(Numerics.uniform(rng, c, 0.5f, 1.5f));
        float[] b = bf16(Numerics.normal(rng, c, 0.5f)), dy = bf16(Numerics.normal(rng, n * c, 1f));
        try (Arena arena = Arena.ofConfined()) {
            Tensor tx = on.put(arena, DType.BF16, x, n, c), tw = on.put(arena, DType.BF16, w, c);
            Tensor tdy = on.put(arena, DType.BF16, dy, n, c);
            Tensor y = device.allocate(arena, DType.BF16, n, c);
            Tensor mean = device.allocate(arena, DType.F32, n), rstd = device.allocate(arena, DType.F32, n);
            NormKernels.rmsnormForward(device, y, rstd, tx, tw, 1e-5f);
            float[][] first = null;
            for (int blocks : BLOCKS) {
                Tensor dx = device.allocate(arena, DType.BF16, n, c), dw = device.allocate(arena, DType.F32, c);
                NormKernels.rmsnormBackward(device, dx, dw, tdy, tx, tw, rstd, blocks);
                float[][] got = {on.get(dx), on.get(dw)};
                if (first == null) first = got;
                assertArrayEquals(first[0], got[0], "rmsnorm dx with " + blocks + " blocks, " + ctx);
                assertClose(first[1], got[1], "rmsnorm dw with " + blocks + " blocks, " + ctx);
            }
            NormKernels.layernormForward(device, y, mean, rstd, tx, tw, on.put(arena, DType.BF16, b, c), 1e-5f);
            first = null;
            for (int blocks : BLOCKS) {
                Tensor dx = device.allocate(arena, DType.BF16, n, c);
                Tensor dw = device.allocate(arena, DType.F32, c), db = device.allocate(arena, DType.F32, c);
                NormKernels.layernormBackward(device, dx, dw, db, tdy, tx, tw, mean, rstd, blocks);
                float[][] got = {on.get(dx), on.get(dw), on.get(db)};
                if (first == null) first = got;
                assertArrayEquals(first[0], got[0], "layernorm dx with " + blocks + " blocks, " + ctx);
                assertClose(first[1], got[1], "layernorm dw with " + blocks + " blocks, " + ctx);
                assertClose(first[2], got[2], "layernorm db with " + blocks + " blocks, " + ctx);
            }
        }
    }

    /** Sums of N fp32 terms in another order: a few ulps of their magnitude. */
    private static void assertClose(float[] expected, float[] actual, String what) {
        double err = Numerics.relErr(actual, expected);
        assertTrue(err < 1e-5, what + ": relative error " + err);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launchersRefuseWrongTypesAndSizes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = device.allocate(arena, DType.BF16, 3, 8), w = device.allocate(arena, DType.BF16, 8);
            Tensor y = device.allocate(arena, DType.BF16, 3, 8), rstd = device.allocate(arena, DType.F32, 3);
            Tensor dw = device.allocate(arena, DType.F32, 8);
            assertThrows(IllegalArgumentException.class, () -> NormKernels.rmsnormForward(device,
                    y, rstd, device.allocate(arena, DType.F32, 3, 8), w, 1e-5f));                  // x not BF16
            assertThrows(IllegalArgumentException.class, () -> NormKernels.rmsnormBackward(device,
                    y, device.allocate(arena, DType.BF16, 8), y, x, w, rstd));                     // dw not F32
            assertThrows(IllegalArgumentException.class, () -> NormKernels.layernormBackward(device,
                    y, dw, null, y, x, w, rstd, rstd));                                              // no dbias
            Tensor wide = device.allocate(arena, DType.BF16, 7000);
            assertThrows(IllegalArgumentException.class, () -> NormKernels.layernormBackward(device,
                    wide, device.allocate(arena, DType.F32, 7000), device.allocate(arena, DType.F32, 7000),
                    wide, wide, wide, rstd.rows(0, 1), rstd.rows(0, 1)));                               // 2*C floats > 48 KiB
        }
    }
}
