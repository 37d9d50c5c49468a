package org.gpt4llm.datagen.teacher;

/**
 * The teacher's answer and what it cost.
 *
 * @param finishReason "stop", "length", ... as the API reports it
 * @param attempts     HTTP attempts it took (1 without retries)
 */
public record ChatResponse(String content, String finishReason, int promptTokens, int completionTokens, int attempts) {}
