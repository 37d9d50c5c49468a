package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * kernels/global_norm.cu beyond what the Backend interface reaches (the sum of squares itself is
 * checked on every backend by the gradient-norm contract test): the single-tensor launch adds onto
 * what the sum holds, and the clip factor the device keeps for adamw.cu is clip_grad_norm_'s.
 */
class NormClipLaunchTest {
    /** Sums of fp32 partial sums in another order: a few ulps of the total. */
    private static final double SUM_TOL = 2e-6;

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void theSingleTensorFormAccumulates(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = on.put(arena, DType.F32, Numerics.normal(rng, 4097, 1f), 4097);
            Tensor b = on.put(arena, DType.F32, Numerics.normal(rng, 300, 2f), 300);
            Tensor both = device.allocate(arena, DType.F32, 1), one = on.put(arena, DType.F32, new float[] {123f}, 1);
            NormClipKernels.sumOfSquares(device, both, List.of(a, b));  // zeroes, then adds both
            NormClipKernels.sumOfSquares(device, one, List.of(a));
            NormClipKernels.sumOfSquares(device, one, b);               // adds onto a's
            double expected = on.get(both)[0], got = on.get(one)[0];
            assertTrue(Math.abs(got - expected) / expected < SUM_TOL, "accumulated " + got + " vs " + expected + ", seed " + seed);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void clipFactorIsClipGradNorms(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float sumsq = 10f + rng.nextFloat() * 1000f;
        double norm = Math.sqrt(sumsq);
        try (Arena arena = Arena.ofConfined()) {
            Tensor s = on.put(arena, DType.F32, new float[] {sumsq}, 1), factor = device.allocate(arena, DType.F32, 1);
            // maxNorm below the norm clips; above it, at 0 or negative, the factor is 1
            double[][] cases = {{norm / 3, norm / 3 / (norm + 1e-6)}, {norm * 2, 1}, {0, 1}, {-1, 1}};
            for (double[] c : cases) {
                NormClipKernels.clipFactor(device, factor, s, (float) c[0]);
                float f = on.get(factor)[0];
                assertTrue(Math.abs(f - c[1]) / c[1] < 1e-6, "clip factor " + f + " for maxNorm " + c[0] + ", expected " + c[1]
                        + ", seed " + seed);
            }
            // an infinite norm stops the step (factor 0), a NaN one leaves the NaN gradients to show
            NormClipKernels.clipFactor(device, factor, on.put(arena, DType.F32, new float[] {Float.POSITIVE_INFINITY}, 1), 1f);
            assertEquals(0f, on.get(factor)[0]);
            NormClipKernels.clipFactor(device, factor, on.put(arena, DType.F32, new float[] {Float.NaN}, 1), 1f);
            assertEquals(1f, on.get(factor)[0]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launchersRefuseWrongTypesAndSizes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor one = device.allocate(arena, DType.F32, 1), x = device.allocate(arena, DType.F32, 8);
            assertThrows(IllegalArgumentException.class, () -> NormClipKernels.sumOfSquares(device, x, x));       // sum not [1]
            assertThrows(IllegalArgumentException.class, () -> NormClipKernels.sumOfSquares(device, one,
                    device.allocate(arena, DType.BF16, 8)));                                                       // x not F32
            assertThrows(IllegalArgumentException.class, () -> NormClipKernels.clipFactor(device, x, one, 1f));    // factor not [1]
            assertThrows(IllegalArgumentException.class, () -> NormClipKernels.clipFactor(device, one,
                    device.allocate(arena, DType.BF16, 1), 1f));                                                   // sum not F32
        }
    }
}
