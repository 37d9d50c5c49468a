package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchPairwiseLoss;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The pairwise reward-model loss on every backend against {@link TorchPairwiseLoss} (TRL's
 * RewardTrainer loss, logsigmoid over the explicit list of score-ordered pairs) and its libtorch
 * autograd gradient, both in float64: the pair count, the loss and dr (overwritten), groups of one
 * and of none, ties, a group all tied, rewards far apart; no pairs giving zeros; group offsets that
 * do not describe the responses refused. Rewards, scores, loss and dr are F32 on every backend, from
 * short fp32 sums: {@code F32_SHORT}.
 */
class RewardLossContractTest {
    @AfterAll
    static void report() {
        Checks.report("reward");
    }

    /** margin, centerCoef: the plain Bradley-Terry loss, TRL's margin and center_rewards_coefficient, and others. */
    private static final Object[][] LOSSES = {{0f, 0f}, {0.5f, 0.01f}, {0.3f, 0.05f}, {-1.25f, 0.2f}};

    static Stream<Arguments> losses() {
        return Target.crossed(LOSSES);
    }

    static Stream<Arguments> groupSizes() {
        Stream.Builder<Object[]> b = Stream.builder();
        for (int k = 2; k <= 5; k++) {
            b.add(new Object[] {k, 0f, 0f});
            b.add(new Object[] {k, 0.5f, 0.01f});
        }
        return Target.crossed(b.build().toArray(Object[][]::new));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    /**
     * One call over groups of 2..5 responses, one of 1 and an empty one, scores with ties, one group
     * all tied, and rewards far apart (|r_i - r_j| ~ 50, the winner below and above its loser):
     * softplus must neither overflow nor lose the small side.
     */
    @ParameterizedTest(name = "{0} margin={1} center={2}")
    @MethodSource("losses")
    void mixedGroupsMatchLibtorch(Target t, float margin, float centerCoef) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] sizes = {2, 5, 3, 1, 4, 0, 5, 3, 2};
        int allTied = 7;
        int[] offsets = offsets(sizes);
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
        r[offsets[1]] = -25f;
        r[offsets[1] + 1] = 25f;
        r[offsets[6]] = 26f;
        r[offsets[6] + 1] = -24f;
        float[] dr = check(t, seed, r, gold, offsets, margin, centerCoef, "seed " + seed + ", margin " + margin + ", center " + centerCoef);
        for (int g : new int[] {3, allTied}) {  // responses in pair-less groups get no gradient at all
            for (int i = offsets[g]; i < offsets[g + 1]; i++) assertEquals(0f, dr[i], t + " group " + g + ", seed " + seed);
        }
    }

    /** Groups of k responses, one of k - 1 and one of 1 (no pairs), scores with ties, one reward far out. */
    @ParameterizedTest(name = "{0} K={1} margin={2} center={3}")
    @MethodSource("groupSizes")
    void groupsOfKMatchLibtorch(Target t, int k, float margin, float centerCoef) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] offsets = offsets(new int[] {k, k - 1, 1, k, k});
        int m = offsets[offsets.length - 1];
        float[] r = Numerics.normal(rng, m, 2f);
        r[rng.nextInt(m)] = 40f;  // the log-sigmoid must not overflow
        float[] gold = new float[m];
        for (int i = 0; i < m; i++) gold[i] = rng.nextInt(Math.max(2, k - 1)) * 2.5f;
        gold[0] = 10f;  // at least one pair
        gold[1] = -1f;
        check(t, seed, r, gold, offsets, margin, centerCoef, "seed " + seed + ", K=" + k + ", margin " + margin + ", center " + centerCoef);
    }

    /** Runs the loss into garbage-filled outputs, checks the pair count, loss and dr; returns dr. */
    private static float[] check(Target t, long seed, float[] r, float[] gold, int[] offsets, float margin, float centerCoef, String ctx) {
        int m = r.length;
        float[] ref = reference(r, gold, offsets, margin, centerCoef);
        float[][] dr = new float[1][];
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor loss = t.f32(arena, new float[] {7f}, 1);                                  // overwritten
                Tensor tdr = t.f32(arena, Numerics.normal(new Random(seed + 1), m, 1f), m);     // overwritten
                int pairs = be.rewardPairwiseLoss(loss, tdr, t.f32(arena, r, m), t.f32(arena, gold, m),
                        t.ints(arena, offsets, offsets.length), gold, offsets, margin, centerCoef);
                assertEquals(TorchPairwiseLoss.pairs(gold, offsets)[0].length, pairs, t + " pair count, " + ctx);
                Checks.assertClose(t, "reward loss", t.get(loss), new float[] {ref[0]}, t.tol(F32_SHORT), ctx);
                dr[0] = t.get(tdr);
                Checks.assertClose(t, "reward dr", dr[0], Arrays.copyOfRange(ref, 1, ref.length), t.tol(F32_SHORT), ctx);
            }
        });
        return dr[0];
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void noPairsGiveZeroLossAndGradient(Target t) {
        float[] r = {1f, -2f, 3f, 0.5f};
        float[] gold = {2f, 2f, 1f, 1f};  // two groups of tied scores
        int[] offsets = {0, 2, 4};
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor loss = t.f32(arena, new float[] {7f}, 1), dr = t.f32(arena, r, 4);
                int pairs = be.rewardPairwiseLoss(loss, dr, t.f32(arena, r, 4), t.f32(arena, gold, 4),
                        t.ints(arena, offsets, 3), gold, offsets, 0f, 0.01f);
                assertEquals(0, pairs, t.toString());
                assertArrayEquals(new float[1], t.get(loss), t + " loss");
                assertArrayEquals(new float[4], t.get(dr), t + " dr");
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void badOffsetsAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = be.allocate(arena, DType.F32, 1), dr = be.allocate(arena, DType.F32, 4);
            Tensor r = be.allocate(arena, DType.F32, 4), gold = be.allocate(arena, DType.F32, 4);
            float[] g = new float[4];
            // not ending at M, not starting at 0, decreasing, no group at all
            for (int[] offsets : new int[][] {{0, 2, 3}, {1, 2, 4}, {0, 3, 2, 4}, {0}}) {
                Tensor to = t.ints(arena, offsets, offsets.length);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> be.rewardPairwiseLoss(loss, dr, r, gold, to, g, offsets, 0f, 0f));
                assertTrue(e.getMessage().contains("offsets"), t + " " + e.getMessage());
            }
            int[] good = {0, 2, 4};
            var wrongGold = assertThrows(IllegalArgumentException.class,
                    () -> be.rewardPairwiseLoss(loss, dr, r, gold, t.ints(arena, good, 3), new float[3], good, 0f, 0f));
            assertTrue(wrongGold.getMessage().contains("gold"), t + " " + wrongGold.getMessage());
            if (!t.bf16()) {
                // the CPU walks the groups of the tensor, so it must hold the validated offsets (a GPU
                // backend would have to download them to compare: it walks the same values it was given)
                Tensor other = t.ints(arena, new int[] {0, 3, 4}, 3);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> be.rewardPairwiseLoss(loss, dr, r, gold, other, g, good, 0f, 0f));
                assertTrue(e.getMessage().contains("offsets"), t + " " + e.getMessage());
            }
        }
    }

    private static int[] offsets(int[] sizes) {
        int[] offsets = new int[sizes.length + 1];
        for (int g = 0; g < sizes.length; g++) offsets[g + 1] = offsets[g] + sizes[g];
        return offsets;
    }

    /** {loss, dr...} from libtorch autograd in float64. */
    static float[] reference(float[] r, float[] gold, int[] offsets, float margin, float centerCoef) {
        try (PointerScope scope = new PointerScope()) {
            var tr = TorchRef.leaf64(r, r.length);
            var loss = TorchPairwiseLoss.loss(tr, gold, offsets, margin, centerCoef);
            loss.backward();
            float[] out = new float[1 + r.length];
            out[0] = Torch.toFloats(loss)[0];
            System.arraycopy(Torch.toFloats(tr.grad()), 0, out, 1, r.length);
            return out;
        }
    }
}
