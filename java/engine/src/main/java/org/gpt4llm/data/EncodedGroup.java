package org.gpt4llm.data;

/**
 * A tokenised {@link ScoredGroup}: one row of token ids per response ({@code [BOS] + prompt +
 * response + EOS}, truncated to the encoder's max length) and the responses' scores.
 */
public record EncodedGroup(RecordRef ref, int[][] rows, float[] scores) {
    public EncodedGroup {
        if (rows.length != scores.length) {
            throw new IllegalArgumentException(ref + ": " + rows.length + " rows but " + scores.length + " scores");
        }
        if (rows.length == 0) throw new IllegalArgumentException(ref + ": a group needs at least one response");
        for (int[] r : rows) if (r.length == 0) throw new IllegalArgumentException(ref + ": a response row is empty");
    }

    public int size() {
        return rows.length;
    }
}
