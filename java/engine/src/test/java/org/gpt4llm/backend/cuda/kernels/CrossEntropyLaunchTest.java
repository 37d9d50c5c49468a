package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.DeviceTensors.bf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The cross-entropy launcher's overload that takes the targets already on the host (the Backend
 * interface downloads them) gives the same bits and refuses the same targets; both name wrong
 * types and sizes. Values against libtorch: the cross-entropy contract test, on every backend.
 */
class CrossEntropyLaunchTest {
    private static final int IGNORE = -100;

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void hostTargetsGiveTheBitsOfDownloadedOnes(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        for (int v : new int[] {33, 1000}) {
            int n = 5;
            float[] logits = bf16(Numerics.normal(rng, n * v, 3f));
            int[] targets = {rng.nextInt(v), IGNORE, rng.nextInt(v), rng.nextInt(v), IGNORE};
            float[][] first = null;
            for (boolean host : new boolean[] {false, true}) {
                try (Arena arena = Arena.ofConfined()) {
                    Tensor x = on.put(arena, DType.BF16, logits, n, v), t = on.ints(arena, targets, n);
                    Tensor losses = device.allocate(arena, DType.F32, n);
                    int count = host ? CrossEntropyKernels.crossEntropy(device, losses, x, x, t, targets, IGNORE, 0.5f)
                            : CrossEntropyKernels.crossEntropy(device, losses, x, x, t, IGNORE, 0.5f);
                    assertEquals(3, count, "seed " + seed);
                    float[][] got = {on.get(losses), on.get(x)};
                    if (first == null) first = got;
                    assertArrayEquals(first[0], got[0], "losses, V=" + v + ", seed " + seed);
                    assertArrayEquals(first[1], got[1], "dlogits, V=" + v + ", seed " + seed);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void hostTargetOutsideTheVocabularyIsRejectedBeforeAnythingIsWritten(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 5, v = 11;
        float[] logits = bf16(Numerics.normal(rng, n * v, 1f));
        for (int bad : new int[] {v, -1, 1 << 20}) {
            int[] targets = {2, IGNORE, 0, bad, 1};
            try (Arena arena = Arena.ofConfined()) {
                float[] before = Numerics.normal(rng, n, 1f);
                Tensor losses = on.put(arena, DType.F32, before, n), x = on.put(arena, DType.BF16, logits, n, v);
                var e = assertThrows(IllegalArgumentException.class, () -> CrossEntropyKernels.crossEntropy(device, losses,
                        x, x, on.ints(arena, targets, n), targets, IGNORE, 1f));
                assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains(String.valueOf(bad)), e.getMessage());
                assertArrayEquals(before, on.get(losses), "losses written, seed " + seed);
                assertArrayEquals(logits, on.get(x), "logits/dlogits written, seed " + seed);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void wrongTypesAndSizesAreNamed(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor f32Logits = device.allocate(arena, DType.F32, 2, 8), logits = device.allocate(arena, DType.BF16, 2, 8);
            Tensor losses = device.allocate(arena, DType.F32, 2), t = on.ints(arena, new int[] {1, 2}, 2);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> CrossEntropyKernels.crossEntropy(device, losses, null, f32Logits, t, new int[] {1, 2}, IGNORE, 1f));
            assertTrue(e.getMessage().contains("logits must be BF16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> CrossEntropyKernels.crossEntropy(device, losses, f32Logits, logits, t, new int[] {1, 2}, IGNORE, 1f));
            assertTrue(e.getMessage().contains("dlogits must be BF16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> CrossEntropyKernels.crossEntropy(device, device.allocate(arena, DType.F32, 1), null, logits, t,
                            new int[] {1, 2}, IGNORE, 1f));
            assertTrue(e.getMessage().contains("losses"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> CrossEntropyKernels.crossEntropy(device, losses, null, logits, t, new int[] {1}, IGNORE, 1f));
            assertTrue(e.getMessage().contains("host targets"), e.getMessage());
        }
    }
}
