package org.gpt4llm.backend.cuda.kernels;

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
 * The reward-loss launcher's overload that downloads the gold scores and offsets gives the bits of
 * the one handed them on the host (the Backend interface's) and refuses the same offsets; wrong
 * types are named. Values against libtorch: the reward-loss contract test, on every backend.
 */
class RewardLossLaunchTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void downloadedScoresGiveTheBitsOfHostOnes(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] offsets = {0, 2, 5, 9, 14, 17};
        int m = 17;
        float[] r = Numerics.normal(rng, m, 3f), gold = new float[m];
        for (int i = 0; i < m; i++) gold[i] = rng.nextInt(3);  // ties
        gold[0] = 5f;
        float[][] first = null;
        int firstPairs = -1;
        for (boolean host : new boolean[] {true, false}) {
            try (Arena arena = Arena.ofConfined()) {
                Tensor loss = device.allocate(arena, DType.F32, 1), dr = device.allocate(arena, DType.F32, m);
                Tensor tr = on.put(arena, DType.F32, r, m), tg = on.put(arena, DType.F32, gold, m), to = on.ints(arena, offsets, 6);
                int pairs = host ? RewardLossKernels.pairwiseLoss(device, loss, dr, tr, tg, to, gold, offsets, 0.3f, 0.05f)
                        : RewardLossKernels.pairwiseLoss(device, loss, dr, tr, tg, to, 0.3f, 0.05f);
                float[][] got = {on.get(loss), on.get(dr)};
                if (first == null) {
                    first = got;
                    firstPairs = pairs;
                }
                assertEquals(firstPairs, pairs, "seed " + seed);
                assertArrayEquals(first[0], got[0], "loss, seed " + seed);
                assertArrayEquals(first[1], got[1], "dr, seed " + seed);
            }
        }
        assertTrue(firstPairs > 0, "seed " + seed);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void badOffsetsAndWrongTypesAreRefused(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = device.allocate(arena, DType.F32, 1), dr = device.allocate(arena, DType.F32, 4);
            Tensor r = device.allocate(arena, DType.F32, 4), gold = device.allocate(arena, DType.F32, 4);
            for (int[] offsets : new int[][] {{0, 2, 3}, {1, 2, 4}, {0, 3, 2, 4}}) {
                Tensor to = on.ints(arena, offsets, offsets.length);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> RewardLossKernels.pairwiseLoss(device, loss, dr, r, gold, to, 0f, 0f));
                assertTrue(e.getMessage().contains("offsets"), e.getMessage());
            }
            Tensor to = on.ints(arena, new int[] {0, 2, 4}, 3);
            var e = assertThrows(IllegalArgumentException.class, () -> RewardLossKernels.pairwiseLoss(device, loss, dr,
                    device.allocate(arena, DType.BF16, 4), gold, to, 0f, 0f));
            assertTrue(e.getMessage().contains("rewards must be F32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> RewardLossKernels.pairwiseLoss(device, loss, dr, r, gold,
                    to, new float[4], new int[] {0, 4}, 0f, 0f));
            assertTrue(e.getMessage().contains("group offsets"), e.getMessage());  // 2 host offsets for a tensor of 3
        }
    }
}
