package org.gpt4llm.data;

/** A record left out of training, and why. */
public record Skip(RecordRef ref, String reason) {
    @Override
    public String toString() {
        return ref.where() + ": " + reason;
    }
}
