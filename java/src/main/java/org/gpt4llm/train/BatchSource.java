package org.gpt4llm.train;

import org.gpt4llm.model.TokenBatch;

/**
 * A fixed list of training rows (tokenised, truncated, possibly packed examples) that collates any
 * subset into a batch. The trainer owns the order (a seeded shuffle per epoch, see {@link DataOrder}),
 * so a position in the data is just a step number and resuming needs nothing from the source.
 */
public interface BatchSource {
    /** Number of rows. */
    int size();

    /** The rows with these indices (in this order), right-padded to the longest of them. */
    TokenBatch batch(int[] rows);
}
