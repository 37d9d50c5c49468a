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
}
