package org.gpt4llm.datagen.teacher;

import java.util.List;

/**
 * One chat completion to ask the teacher for (the model is the client's).
 *
 * @param maxTokens the completion's limit (also what the token rate limiter reserves for it)
 */
public record ChatRequest(List<Message> messages, double temperature, int maxTokens) {
    public ChatRequest {
        messages = List.copyOf(messages);
        if (messages.isEmpty()) throw new IllegalArgumentException("a chat request needs at least one message");
        if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be positive, got " + maxTokens);
    }

    /** A single user message. */
    public static ChatRequest of(String userMessage, double temperature, int maxTokens) {
        return new ChatRequest(List.of(Message.user(userMessage)), temperature, maxTokens);
    }
}
