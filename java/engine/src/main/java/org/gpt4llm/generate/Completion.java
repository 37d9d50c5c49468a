package org.gpt4llm.generate;

/**
 * What one request produced.
 *
 * @param tokens       the generated ids (a stop string's tokens and EOS excluded)
 * @param text         their text, cut before a stop string
 * @param finishReason "stop" (EOS or a stop string), "length" (max new tokens or the model's context)
 *                     or "cancelled" (the listener gave up on it)
 * @param promptTokens tokens of the prompt
 */
public record Completion(int[] tokens, String text, String finishReason, int promptTokens) {}
