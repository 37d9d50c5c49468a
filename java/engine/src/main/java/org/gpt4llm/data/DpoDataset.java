package org.gpt4llm.data;

import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.model.TokenBatch;

/**
 * Preference pairs as a {@link BatchSource}: a row of the source is a pair, and a batch of n rows is
 * the {@link DpoBatch} of 2n token rows. The reference log-probabilities are attached once they are
 * known ({@link #attachReference}); until then batches carry none.
 */
public final class DpoDataset implements BatchSource<DpoBatch> {
    private final List<PreferencePairs.Pair> pairs;
    private final PaddedRows chosen, rejected;
    private float[] refChosen, refRejected;

    public DpoDataset(List<PreferencePairs.Pair> pairs, int padId) {
        this.pairs = List.copyOf(pairs);
        List<TokenBatch> c = new ArrayList<>(pairs.size()), r = new ArrayList<>(pairs.size());
        for (PreferencePairs.Pair p : pairs) {
            c.add(DataLoader.assemble(List.of(List.of(p.chosen())), padId));
            r.add(DataLoader.assemble(List.of(List.of(p.rejected())), padId));
        }
        this.chosen = new PaddedRows(c, padId);
        this.rejected = new PaddedRows(r, padId);
    }

    @Override
    public int size() {
        return pairs.size();
    }

    public PreferencePairs.Pair pair(int i) {
        return pairs.get(i);
    }

    /** The summed reference log-probabilities of every pair's chosen and rejected response, in pair order. */
    public void attachReference(float[] chosenLogProbs, float[] rejectedLogProbs) {
        if (chosenLogProbs.length != pairs.size() || rejectedLogProbs.length != pairs.size()) {
            throw new IllegalArgumentException("reference log-probabilities for " + chosenLogProbs.length + " and "
                    + rejectedLogProbs.length + " pairs, but the data has " + pairs.size());
        }
        refChosen = chosenLogProbs.clone();
        refRejected = rejectedLogProbs.clone();
    }

    @Override
    public DpoBatch batch(int[] rows) {
        return batch(rows, 0);
    }

    @Override
    public int longestRow() {
        return Math.max(chosen.longestRow(), rejected.longestRow());
    }

    @Override
    public DpoBatch batch(int[] rows, int length) {
        int t = Math.max(length, Math.max(chosen.batch(rows).seqLen(), rejected.batch(rows).seqLen()));
        TokenBatch c = chosen.batch(rows, t), r = rejected.batch(rows, t);
        TokenBatch both = new TokenBatch(2 * rows.length, t, concat(c.tokens(), r.tokens()), concat(c.targets(), r.targets()),
                concat(c.positions(), r.positions()), concat(c.segments(), r.segments()));
        float[] rc = null, rr = null;
        if (refChosen != null) {
            rc = new float[rows.length];
            rr = new float[rows.length];
            for (int i = 0; i < rows.length; i++) {
                rc[i] = refChosen[rows[i]];
                rr[i] = refRejected[rows[i]];
            }
        }
        return new DpoBatch(both, rows.clone(), rc, rr);
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = new int[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
