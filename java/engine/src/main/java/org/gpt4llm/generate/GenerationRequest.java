package org.gpt4llm.generate;

/** One sequence to continue: its prompt as token ids (special tokens included as the caller wants) and how. */
public record GenerationRequest(int[] prompt, SamplingParams params) {
    public GenerationRequest {
        if (prompt.length == 0) throw new IllegalArgumentException("a prompt needs at least one token");
    }
}
