package org.gpt4llm.backend;

/**
 * The pairs of the pairwise reward loss ({@link Backend#rewardPairwiseLoss}): every (i, j) of one
 * group with gold_i > gold_j. Every backend counts them here, on the host, before its kernel runs.
 */
public final class RewardPairs {
    private RewardPairs() {}

    /**
     * The pair count P of {@code responses} responses with gold scores {@code gold}, group g holding
     * responses [offsets[g], offsets[g+1]); rejects offsets that do not run from 0 to
     * {@code responses} without decreasing, and a gold array of another length.
     */
    public static int count(float[] gold, int[] offsets, int responses) {
        if (gold.length != responses) {
            throw new IllegalArgumentException(gold.length + " host gold scores for " + responses + " rewards");
        }
        int groups = offsets.length - 1;
        if (groups < 1 || offsets[0] != 0 || offsets[groups] != responses) {
            throw new IllegalArgumentException("group offsets must run from 0 to " + responses + " (the number of responses)");
        }
        for (int g = 0; g < groups; g++) {
            if (offsets[g + 1] < offsets[g]) {
                throw new IllegalArgumentException("group offsets decrease at group " + g + ": " + offsets[g]
                        + " then " + offsets[g + 1]);
            }
        }
        int[] count = {0};
        forEach(gold, offsets, (winner, loser) -> count[0]++);
        return count[0];
    }

    /** Receives one pair: the indices of the better and the worse response. */
    @FunctionalInterface
    public interface Visitor {
        void pair(int winner, int loser);
    }

    /** Visits every pair (i, j) of one group with gold_i > gold_j, group by group. */
    public static void forEach(float[] gold, int[] offsets, Visitor v) {
        for (int g = 0; g + 1 < offsets.length; g++) {
            for (int i = offsets[g]; i < offsets[g + 1]; i++) {
                for (int j = offsets[g]; j < offsets[g + 1]; j++) {
                    if (gold[i] > gold[j]) v.pair(i, j);
                }
            }
        }
    }
}
