package org.gpt4llm.data;

import java.util.Arrays;
import java.util.List;
import org.gpt4llm.model.TokenBatch;

/**
 * A {@link BatchSource} over rows prepared once (each a one-row {@link TokenBatch}: one example, or
 * several packed ones with their own segments and positions); a batch is its rows right-padded to the
 * longest (pad id, no target, position 0, segment 0, which attention treats as padding).
 */
public final class PaddedRows implements BatchSource<TokenBatch> {
    private final List<TokenBatch> rows;
    private final int padId;

    public PaddedRows(List<TokenBatch> rows, int padId) {
        for (TokenBatch r : rows) {
            if (r.batch() != 1) throw new IllegalArgumentException("a row must be a batch of 1, not " + r.batch());
        }
        this.rows = List.copyOf(rows);
        this.padId = padId;
    }

    @Override
    public int size() {
        return rows.size();
    }

    @Override
    public TokenBatch batch(int[] idx) {
        return batch(idx, 0);
    }

    @Override
    public int longestRow() {
        int t = 0;
        for (TokenBatch r : rows) t = Math.max(t, r.seqLen());
        return t;
    }

    @Override
    public TokenBatch batch(int[] idx, int length) {
        int t = length;
        for (int i : idx) t = Math.max(t, rows.get(i).seqLen());
        int n = idx.length * t;
        int[] tok = new int[n], tgt = new int[n], pos = new int[n], seg = new int[n];
        Arrays.fill(tok, padId);
        Arrays.fill(tgt, TokenBatch.IGNORE);
        for (int b = 0; b < idx.length; b++) {
            TokenBatch r = rows.get(idx[b]);
            int len = r.seqLen();
            System.arraycopy(r.tokens(), 0, tok, b * t, len);
            System.arraycopy(r.targets(), 0, tgt, b * t, len);
            System.arraycopy(r.positions(), 0, pos, b * t, len);
            System.arraycopy(r.segments(), 0, seg, b * t, len);
        }
        return new TokenBatch(idx.length, t, tok, tgt, pos, seg);
    }
}
