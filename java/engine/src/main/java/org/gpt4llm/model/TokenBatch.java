package org.gpt4llm.model;

import java.util.Arrays;

/**
 * One batch of token rows, {@code [batch, seqLen]} row-major, as the model consumes it.
 *
 * @param tokens    input ids
 * @param targets   the id to predict at each position (already shifted), or {@link #IGNORE}
 * @param positions rotary positions (restart at 0 for each packed sequence)
 * @param segments  0 for padding, otherwise a sequence id; attention never crosses segments
 */
public record TokenBatch(int batch, int seqLen, int[] tokens, int[] targets, int[] positions, int[] segments)
        implements Batch {
    public static final int IGNORE = -100;

    public TokenBatch {
        int n = batch * seqLen;
        if (tokens.length != n || targets.length != n || positions.length != n || segments.length != n) {
            throw new IllegalArgumentException("a batch of " + batch + "x" + seqLen + " needs " + n + " entries per array");
        }
    }

    /**
     * Rows of different lengths, right-padded to the longest: position i predicts token i+1, padding
     * and the last token of each row predict nothing.
     */
    public static TokenBatch causalLm(int[][] rows, int padId) {
        int t = Arrays.stream(rows).mapToInt(r -> r.length).max().orElse(0);
        int b = rows.length;
        int[] tok = new int[b * t], tgt = new int[b * t], pos = new int[b * t], seg = new int[b * t];
        Arrays.fill(tok, padId);
        Arrays.fill(tgt, IGNORE);
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < rows[i].length; j++) {
                tok[i * t + j] = rows[i][j];
                pos[i * t + j] = j;
                seg[i * t + j] = 1;
                if (j + 1 < rows[i].length) tgt[i * t + j] = rows[i][j + 1];
            }
        }
        return new TokenBatch(b, t, tok, tgt, pos, seg);
    }

    public int size() {
        return batch * seqLen;
    }

    /** Number of positions that contribute to the loss. */
    public int targetCount() {
        int c = 0;
        for (int t : targets) if (t != IGNORE) c++;
        return c;
    }

    @Override
    public int lossTerms() {
        return targetCount();
    }

    @Override
    public String shape() {
        return batch + "x" + seqLen;
    }

    @Override
    public long tokenCount() {
        long n = 0;
        for (int s : segments) if (s != 0) n++;
        return n;
    }
}
