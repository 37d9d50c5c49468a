package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
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
 * The pairwise reward loss of the cpu backend against {@link TorchPairwiseLoss} (logsigmoid over an
 * explicit list of pairs) and its libtorch autograd gradient, both in float64.
 */
public class RewardLossTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("reward");
    }

    /** {loss, dr...} from libtorch autograd in float64 (the CUDA kernel's test uses it too). */
    public static float[] reference(float[] r, float[] gold, int[] offsets, float margin, float centerCoef) {
        try (PointerScope scope = new PointerScope()) {
            var tr = Torch.floats(r, r.length).to(torch.ScalarType.Double);
            tr.requires_grad_(true);
            var loss = TorchPairwiseLoss.loss(tr, gold, offsets, margin, centerCoef);
            loss.backward();
            float[] out = new float[1 + r.length];
            out[0] = Torch.toFloats(loss)[0];
            System.arraycopy(Torch.toFloats(tr.grad()), 0, out, 1, r.length);
            return out;
        }
    }

    static Stream<Arguments> cases() {
        return Stream.of(Arguments.of(0f, 0f),        // the plain Bradley-Terry loss
                Arguments.of(0.5f, 0.01f),            // TRL's margin and center_rewards_coefficient
                Arguments.of(-1.25f, 0.2f));          // a negative margin, a strong centering term
    }

    /**
     * One call over groups of K = 2..5 (and one of 1, one empty), scores with ties, one group all
     * tied, and rewards far apart (|r_i - r_j| ~ 50): softplus must neither overflow nor lose the
     * small side.
     */
    @ParameterizedTest(name = "margin={0} center={1}")
    @MethodSource("cases")
    void matchesLibtorch(float margin, float centerCoef) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] sizes = {2, 5, 3, 1, 4, 0, 5, 3, 2};
        int allTied = 7;
        int[] offsets = new int[sizes.length + 1];
        for (int g = 0; g < sizes.length; g++) offsets[g + 1] = offsets[g] + sizes[g];
        int m = offsets[sizes.length];
        float[] r = Numerics.normal(rng, m, 2f);
        float[] gold = new float[m];
        for (int g = 0; g < sizes.length; g++) {
            for (int i = offsets[g]; i < offsets[g + 1]; i++) {
                gold[i] = g == allTied ? 4f : rng.nextInt(Math.max(2, sizes[g] - 1)) * 0.5f;  // fewer scores than responses: ties
            }
            if (sizes[g] >= 2 && g != allTied) {  // at least one pair in each group that can have one
                gold[offsets[g]] = 9f;
                gold[offsets[g] + 1] = -1f;
            }
        }
        // far rewards, winner below and above its loser: d ~ ±50
        r[offsets[1]] = -25f;
        r[offsets[1] + 1] = 25f;
        r[offsets[6]] = 26f;
        r[offsets[6] + 1] = -24f;
        String ctx = "seed " + seed + ", margin " + margin + ", center " + centerCoef;
        float[] ref = reference(r, gold, offsets, margin, centerCoef);
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = Tensor.of(arena, new float[] {7f}, 1);          // overwritten
            Tensor dr = Tensor.of(arena, Numerics.normal(rng, m, 1f), m);  // overwritten
            int pairs = CPU.rewardPairwiseLoss(loss, dr, Tensor.of(arena, r, m), Tensor.of(arena, gold, m),
                    ints(arena, offsets), gold, offsets, margin, centerCoef);
            assertEquals(TorchPairwiseLoss.pairs(gold, offsets)[0].length, pairs, ctx);
            assertClose("reward loss", loss.toFloatArray(), new float[] {ref[0]}, FP32_TOL, ctx);
            assertClose("reward dr", dr.toFloatArray(), Arrays.copyOfRange(ref, 1, ref.length), FP32_TOL, ctx);
            // responses in pair-less groups get no gradient at all
            for (int g : new int[] {3, allTied}) {
                for (int i = offsets[g]; i < offsets[g + 1]; i++) assertEquals(0f, dr.toFloatArray()[i], ctx + ", group " + g);
            }
        }
    }

    private static Tensor ints(Arena arena, int[] v) {
        Tensor t = Tensor.allocate(arena, DType.I32, v.length);
        CPU.upload(t, v);
        return t;
    }

    @Test
    void noPairsGiveZeroLossAndGradient() {
        try (Arena arena = Arena.ofConfined()) {
            float[] r = {1f, -2f, 3f, 0.5f};
            float[] gold = {2f, 2f, 1f, 1f};  // two groups of tied scores
            int[] offsets = {0, 2, 4};
            Tensor loss = Tensor.of(arena, new float[] {7f}, 1), dr = Tensor.of(arena, r, 4);
            int pairs = CPU.rewardPairwiseLoss(loss, dr, Tensor.of(arena, r, 4), Tensor.of(arena, gold, 4),
                    ints(arena, offsets), gold, offsets, 0f, 0.01f);
            assertEquals(0, pairs);
            assertArrayEquals(new float[1], loss.toFloatArray());
            assertArrayEquals(new float[4], dr.toFloatArray());
        }
    }

    @Test
    void badOffsetsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = Tensor.allocate(arena, DType.F32, 1), dr = Tensor.allocate(arena, DType.F32, 4);
            Tensor r = Tensor.allocate(arena, DType.F32, 4), gold = Tensor.allocate(arena, DType.F32, 4);
            float[] g = new float[4];
            for (int[] offsets : new int[][] {{0, 2, 3}, {1, 2, 4}, {0, 3, 2, 4}, {0}}) {
                Tensor to = ints(arena, offsets);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> CPU.rewardPairwiseLoss(loss, dr, r, gold, to, g, offsets, 0f, 0f));
                assertTrue(e.getMessage().contains("offsets"), e.getMessage());
            }
            // the tensor the kernel walks must hold the validated offsets
            int[] good = {0, 2, 4};
            Tensor other = ints(arena, new int[] {0, 3, 4});
            var e = assertThrows(IllegalArgumentException.class,
                    () -> CPU.rewardPairwiseLoss(loss, dr, r, gold, other, g, good, 0f, 0f));
            assertTrue(e.getMessage().contains("offsets"), e.getMessage());
            var wrongGold = assertThrows(IllegalArgumentException.class,
                    () -> CPU.rewardPairwiseLoss(loss, dr, r, gold, ints(arena, good), new float[3], good, 0f, 0f));
            assertTrue(wrongGold.getMessage().contains("gold"), wrongGold.getMessage());
        }
    }
}
