package org.gpt4llm.model;

/**
 * One micro-batch of training input, whatever the task: token rows for language modelling
 * ({@link TokenBatch}), groups of scored responses for a reward model. The trainer weighs
 * micro-batches by their loss terms, so a step's loss is the mean over all of its terms.
 */
public interface Batch {
    /** Terms the batch's mean loss averages over: target tokens, or response pairs. */
    int lossTerms();

    /** Tokens that are not padding, for throughput. */
    long tokenCount();

    /**
     * The dimensions the work of a forward and backward depends on, e.g. {@code 4x128} (rows x tokens):
     * steps whose micro-batches have equal shapes queue the same work, as a captured CUDA graph needs.
     */
    String shape();
}
