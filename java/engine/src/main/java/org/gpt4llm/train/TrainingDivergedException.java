package org.gpt4llm.train;

/** The loss or the gradient norm stopped being finite; the message names the step and the checkpoint kept. */
public final class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message) {
        super(message);
    }
}
