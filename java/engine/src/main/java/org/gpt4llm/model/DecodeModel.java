package org.gpt4llm.model;


/** Something that opens {@link DecodeSession}s: a model with its weights (and adapter) loaded. */
public interface DecodeModel {
    /** A session for up to {@code maxBatch} rows of up to {@code maxLength} tokens each. */
    DecodeSession open(int maxBatch, int maxLength);

    /** The longest sequence the model supports (max_position_embeddings). */
    int maxPositions();

    int vocabSize();
}
