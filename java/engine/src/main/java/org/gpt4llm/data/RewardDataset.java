package org.gpt4llm.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.model.TokenBatch;

/**
 * Tokenised scored groups as a {@link BatchSource}: a row of the source is a whole group, so a batch
 * of n rows holds the responses of n prompts and every pair stays within one batch.
 */
public final class RewardDataset implements BatchSource<RewardBatch> {
    private final List<EncodedGroup> groups;
    private final PaddedRows responses;  // every response of every group, in order
    private final int[] firstResponse;   // group g's responses start at this row of `responses`

    public RewardDataset(List<EncodedGroup> groups, int padId) {
        this.groups = List.copyOf(groups);
        this.firstResponse = new int[groups.size()];
        List<TokenBatch> rows = new ArrayList<>();
        for (int g = 0; g < groups.size(); g++) {
            firstResponse[g] = rows.size();
            for (int[] row : groups.get(g).rows()) rows.add(untargeted(row));
        }
        this.responses = new PaddedRows(rows, padId);
    }

    /** One response as a one-row batch: positions from 0, segment 1, nothing to predict. */
    private static TokenBatch untargeted(int[] row) {
        int n = row.length;
        int[] targets = new int[n], positions = new int[n], segments = new int[n];
        Arrays.fill(targets, TokenBatch.IGNORE);
        Arrays.fill(segments, 1);
        for (int i = 0; i < n; i++) positions[i] = i;
        return new TokenBatch(1, n, row.clone(), targets, positions, segments);
    }

    @Override
    public int size() {
        return groups.size();
    }

    public EncodedGroup group(int g) {
        return groups.get(g);
    }

    /**
     * Every group's rewards under {@code rm} (one array per group, its responses in order), reading
     * {@code groupsPerPass} groups per forward pass.
     */
    public List<float[]> rewards(RewardModel rm, int groupsPerPass) {
        List<float[]> out = new ArrayList<>(groups.size());
        for (int from = 0; from < groups.size(); from += groupsPerPass) {
            int[] idx = new int[Math.min(groupsPerPass, groups.size() - from)];
            for (int i = 0; i < idx.length; i++) idx[i] = from + i;
            RewardBatch b = batch(idx);
            float[] r;
            rm.backend().rangePush("reward score"); // inference only: training passes go through the trainer's ranges
            try {
                r = rm.rewards(b.tokens(), b.last());
            } finally {
                rm.backend().rangePop();
            }
            for (int g = 0; g < idx.length; g++) out.add(Arrays.copyOfRange(r, b.offsets()[g], b.offsets()[g + 1]));
        }
        return out;
    }

    /** The responses of these groups, group by group in this order. */
    @Override
    public RewardBatch batch(int[] groupIdx) {
        int[] offsets = new int[groupIdx.length + 1];
        for (int g = 0; g < groupIdx.length; g++) offsets[g + 1] = offsets[g] + groups.get(groupIdx[g]).size();
        int m = offsets[groupIdx.length];
        int[] rows = new int[m], lengths = new int[m], last = new int[m];
        float[] gold = new float[m];
        int pairs = 0;
        for (int g = 0; g < groupIdx.length; g++) {
            EncodedGroup group = groups.get(groupIdx[g]);
            for (int k = 0; k < group.size(); k++) {
                rows[offsets[g] + k] = firstResponse[groupIdx[g]] + k;
                lengths[offsets[g] + k] = group.rows()[k].length;
                gold[offsets[g] + k] = group.scores()[k];
            }
            pairs += ScoredGroup.orderedPairs(group.scores());
        }
        TokenBatch tokens = responses.batch(rows);
        for (int r = 0; r < m; r++) last[r] = r * tokens.seqLen() + lengths[r] - 1;
        return new RewardBatch(tokens, last, gold, offsets, pairs);
    }
}
