package org.gpt4llm.model;

/**
 * A batch of sequences decoded incrementally with a KV cache: the prompts are run once, then each
 * step feeds one new token per row and returns the next-token logits of every row. Rows have their
 * own lengths (no left padding); a row that has finished may keep being fed any token, its logits
 * are then ignored by the caller.
 */
public interface DecodeSession extends AutoCloseable {
    /**
     * Runs {@code prompts} (one per row, each at least one token, at most {@link #maxBatch} rows) into a
     * fresh cache and returns the logits that follow each prompt's last token, [rows][vocab].
     */
    float[][] prefill(int[][] prompts);

    /** Appends {@code tokens[row]} to every row and returns the logits that follow it, [rows][vocab]. */
    float[][] step(int[] tokens);

    /** Tokens of row {@code row} in the cache so far (prompt plus generated). */
    int length(int row);

    /** The most tokens a row may hold (prompt plus generated). */
    int maxLength();

    int maxBatch();

    int vocabSize();

    @Override
    void close();
}
