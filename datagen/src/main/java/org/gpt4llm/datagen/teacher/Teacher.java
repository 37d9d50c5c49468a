package org.gpt4llm.datagen.teacher;

/**
 * A GPT-4-class model behind an OpenAI-compatible chat API. Implementations are thread-safe: jobs
 * call {@link #chat} from many threads at once, and the implementation applies rate limits, retries
 * and timeouts itself, so a call returns an answer or fails for good.
 */
public interface Teacher {
    /** The answer to {@code request}, or a {@link TeacherException} saying why there is none after every retry. */
    ChatResponse chat(ChatRequest request) throws TeacherException;
}
