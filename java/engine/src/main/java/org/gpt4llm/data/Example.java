package org.gpt4llm.data;

import org.gpt4llm.model.TokenBatch;

/**
 * One tokenised training example, unshifted as in HF: {@code labels[i]} is {@code ids[i]} where
 * token i is supervised and {@link TokenBatch#IGNORE} where it is not (prompt tokens, BOS). The
 * batcher shifts them: position i is trained to predict {@code labels[i + 1]}.
 *
 * @param promptTokens tokens before the first response token (BOS and the first prompt)
 */
public record Example(RecordRef ref, int[] ids, int[] labels, int promptTokens) {
    public Example {
        if (ids.length != labels.length) throw new IllegalArgumentException(ref + ": ids and labels differ in length");
        if (ids.length == 0) throw new IllegalArgumentException(ref + ": an example needs at least one token");
    }

    public int length() {
        return ids.length;
    }

    /** Number of tokens that contribute to the loss (after shifting). */
    public int supervisedTokens() {
        int c = 0;
        for (int i = 1; i < labels.length; i++) if (labels[i] != TokenBatch.IGNORE) c++;
        return c;
    }
}
