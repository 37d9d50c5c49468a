package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * kernels/adamw.cu beyond what the Backend interface reaches (the update itself is checked against
 * libtorch on every backend by the AdamW contract test): a clip factor read on the device scales the
 * gradient exactly as the same factor folded into the host's gradient scale, and the launcher refuses
 * arguments of the wrong type or size.
 */
class AdamWLaunchTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void aDeviceClipFactorActsAsTheGradientScale(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 3001;
        float scale = 0.5f, clip = 0.3f + 0.5f * rng.nextFloat();
        float[] p0 = Numerics.normal(rng, n, 0.05f), g = Numerics.normal(rng, n, 1f);
        var hp = new Backend.AdamW(0.9f, 0.95f, 1e-8f, 0.1f);
        float[][] results = new float[2][];
        try (Arena arena = Arena.ofConfined()) {
            for (int k = 0; k < 2; k++) {
                Tensor param = device.allocate(arena, DType.BF16, n), master = on.put(arena, DType.F32, p0, n);
                Tensor m = device.allocate(arena, DType.F32, n), v = device.allocate(arena, DType.F32, n);
                Tensor grad = on.put(arena, DType.F32, g, n);
                for (int step = 1; step <= 2; step++) {
                    if (k == 0) {
                        AdamWKernels.adamw(device, param, master, grad, m, v, hp, 1e-3f, step, scale,
                                on.put(arena, DType.F32, new float[] {clip}, 1));
                    } else {
                        AdamWKernels.adamw(device, param, master, grad, m, v, hp, 1e-3f, step, scale * clip, null);
                    }
                }
                results[k] = on.get(master);
                assertTrue(Numerics.relErr(results[k], p0) > 1e-3, "the steps moved the master weights, seed " + seed);
            }
        }
        // the kernel multiplies grad_scale by the factor in fp32: the same product as on the host
        assertArrayEquals(results[1], results[0], "master weights with a device clip factor " + clip + ", seed " + seed);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launcherRefusesWrongTypesAndSizes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor bf = device.allocate(arena, DType.BF16, 4), f = device.allocate(arena, DType.F32, 4);
            Tensor f5 = device.allocate(arena, DType.F32, 5);
            var hp = Backend.AdamW.DEFAULT;
            var e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device, f, f, f, f, f, hp, 1e-3f, 1, 1f, null));
            assertTrue(e.getMessage().contains("adamw param must be BF16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device, bf, f, f5, f, f, hp, 1e-3f, 1, 1f, null));
            assertTrue(e.getMessage().contains("adamw grad"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device, bf, f, f, f, f, hp, 1e-3f, 0, 1f, null));
            assertTrue(e.getMessage().contains("step counts from 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> AdamWKernels.adamw(device, bf, f, f, f, f, hp, 1e-3f, 1, 1f, f));
            assertTrue(e.getMessage().contains("clip factor"), e.getMessage());
        }
    }
}
