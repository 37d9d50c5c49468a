package org.gpt4llm.data;

import org.gpt4llm.model.Batch;

/**
 * A fixed list of training rows (tokenised, truncated, possibly packed examples, or a prompt's scored
 * responses) that collates any
 * subset into a batch. The trainer owns the order (a seeded shuffle per epoch, see {@link DataOrder}),
 * so a position in the data is just a step number and resuming needs nothing from the source.
 */
public interface BatchSource<B extends Batch> {
    /** Number of rows. */
    int size();

    /** The rows with these indices (in this order) as one batch, right-padded to the longest of them. */
    B batch(int[] rows);

    /**
     * The rows as one batch right-padded to {@code length} tokens (at least the longest of them), so
     * that batches of the same row count have the same shape (what a captured CUDA graph replays); a
     * source without token rows pads as {@link #batch(int[])} does.
     */
    default B batch(int[] rows, int length) {
        return batch(rows);
    }

    /** The length of the longest row, which {@link #batch(int[], int)} may pad every batch to; 0 when unknown. */
    default int longestRow() {
        return 0;
    }
}
