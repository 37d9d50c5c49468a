package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.cpu.KernelChecks;
import org.gpt4llm.backend.cpu.RewardLossTest;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchPairwiseLoss;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * kernels/reward_loss.cu through the emulation against the same loss written with libtorch ops
 * (TRL's RewardTrainer loss on the list of score-ordered pairs) and its autograd gradient.
 */
class RewardLossKernelsTest {
    /** fp32 in and out; sums of a few dozen terms in a different order. */
    private static final double TOL = 1e-5;

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("cuda reward");
    }

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int k = 2; k <= 5; k++) {
            b.add(Arguments.of(k, 0f, 0f));       // the plain Bradley-Terry loss
            b.add(Arguments.of(k, 0.5f, 0.01f));  // with TRL's margin and center_rewards_coefficient
        }
        return b.build();
    }

    /** Groups of k responses (one of k - 1, one of 1: no pairs), scores with ties. */
    @ParameterizedTest(name = "K={0} margin={1} center={2}")
    @MethodSource("cases")
    void matchesLibtorch(int k, float margin, float centerCoef) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] sizes = {k, k - 1, 1, k, k};
        int[] offsets = new int[sizes.length + 1];
        for (int g = 0; g < sizes.length; g++) offsets[g + 1] = offsets[g] + sizes[g];
        int m = offsets[sizes.length];
        float[] r = Numerics.normal(rng, m, 2f);
        r[rng.nextInt(m)] = 40f;  // a far reward: the log-sigmoid must not overflow
        float[] gold = new float[m];
        for (int i = 0; i < m; i++) gold[i] = rng.nextInt(Math.max(2, k - 1)) * 2.5f;  // fewer scores than responses: ties
        gold[0] = 10f;  // at least one pair
        gold[1] = -1f;
        String ctx = "seed " + seed + ", K=" + k + ", margin " + margin + ", center " + centerCoef;
        float[] ref = RewardLossTest.reference(r, gold, offsets, margin, centerCoef);
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = DeviceChecks.f32(arena, new float[] {7f}, 1);          // overwritten
            Tensor dr = DeviceChecks.f32(arena, Numerics.normal(rng, m, 1f), m);  // overwritten
            Tensor tr = DeviceChecks.f32(arena, r, m), tg = DeviceChecks.f32(arena, gold, m);
            Tensor to = DeviceChecks.ints(arena, offsets, offsets.length);
            int pairs = RewardLossKernels.pairwiseLoss(device(), loss, dr, tr, tg, to, margin, centerCoef);
            assertEquals(TorchPairwiseLoss.pairs(gold, offsets)[0].length, pairs, ctx);
            assertClose("cuda reward loss", download(loss), new float[] {ref[0]}, TOL, ctx);
            assertClose("cuda reward dr", download(dr), java.util.Arrays.copyOfRange(ref, 1, ref.length), TOL, ctx);
        }
    }

    @Test
    void noPairsGiveZeroLossAndGradient() {
        try (Arena arena = Arena.ofConfined()) {
            float[] r = {1f, -2f, 3f, 0.5f};
            float[] gold = {2f, 2f, 1f, 1f};  // two groups of tied scores
            int[] offsets = {0, 2, 4};
            Tensor loss = DeviceChecks.f32(arena, new float[] {7f}, 1), dr = DeviceChecks.f32(arena, r, 4);
            int pairs = RewardLossKernels.pairwiseLoss(device(), loss, dr, DeviceChecks.f32(arena, r, 4),
                    DeviceChecks.f32(arena, gold, 4), DeviceChecks.ints(arena, offsets, 3), gold, offsets, 0f, 0.01f);
            assertEquals(0, pairs);
            assertArrayEquals(new float[1], download(loss));
            assertArrayEquals(new float[4], download(dr));
        }
    }

    @Test
    void badOffsetsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = device().allocate(arena, DType.F32, 1), dr = device().allocate(arena, DType.F32, 4);
            Tensor r = device().allocate(arena, DType.F32, 4), gold = device().allocate(arena, DType.F32, 4);
            float[] g = new float[4];
            for (int[] offsets : new int[][] {{0, 2, 3}, {1, 2, 4}, {0, 3, 2, 4}}) {
                Tensor to = DeviceChecks.ints(arena, offsets, offsets.length);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> RewardLossKernels.pairwiseLoss(device(), loss, dr, r, gold, to, g, offsets, 0f, 0f));
                assertTrue(e.getMessage().contains("offsets"), e.getMessage());
            }
        }
    }
}
