package org.gpt4llm.generate;

/** Receives the text of each request as it is generated (for streaming). */
@FunctionalInterface
public interface TokenListener {
    /**
     * {@code delta} is new text of request {@code index} (never a partial UTF-8 character, never part of
     * a stop string). Returns false to cancel that request (its client went away).
     */
    boolean onText(int index, String delta);

    TokenListener NONE = (i, d) -> true;
}
