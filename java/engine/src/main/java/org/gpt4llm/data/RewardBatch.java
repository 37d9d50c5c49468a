package org.gpt4llm.data;

import org.gpt4llm.model.Batch;
import org.gpt4llm.model.TokenBatch;

/**
 * One micro-batch for a reward model: every response of G groups as one row of {@code tokens}
 * (M rows in all, group by group, right-padded: pad id, segment 0; no targets, a reward model predicts
 * no tokens), and where to read each response's reward.
 *
 * @param last    {@code [M]}: flat index {@code row * seqLen + length - 1} of each response's last token
 * @param gold    {@code [M]}: each response's score (NaN where a file being scored has none)
 * @param offsets {@code [G + 1]}: group g's responses are rows {@code offsets[g] .. offsets[g + 1] - 1}
 * @param pairs   pairs (i, j) within a group with {@code gold[i] > gold[j]}: the loss terms
 */
public record RewardBatch(TokenBatch tokens, int[] last, float[] gold, int[] offsets, int pairs) implements Batch {
    public RewardBatch {
        int m = tokens.batch();
        if (last.length != m || gold.length != m) {
            throw new IllegalArgumentException(m + " rows need " + m + " last indices and scores, got " + last.length
                    + " and " + gold.length);
        }
        if (offsets.length < 1 || offsets[0] != 0 || offsets[offsets.length - 1] != m) {
            throw new IllegalArgumentException("group offsets must run from 0 to " + m);
        }
    }

    /** Number of groups, G. */
    public int groups() {
        return offsets.length - 1;
    }

    @Override
    public int lossTerms() {
        return pairs;
    }

    @Override
    public String shape() {
        return tokens.shape() + " in " + groups() + " groups";
    }

    @Override
    public long tokenCount() {
        return tokens.tokenCount();
    }
}
