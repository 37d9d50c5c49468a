package org.gpt4llm.datagen.job;

/**
 * Stanford Alpaca's PROMPT_DICT, byte for byte: the prompt the teacher answers for an instruction
 * and optional input (no newline after {@code ### Response:}).
 */
public final class AlpacaPrompt {
    public static final String WITH_INPUT = "Below is an instruction that describes a task, paired with an input that provides"
            + " further context. Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:";
    public static final String NO_INPUT = "Below is an instruction that describes a task."
            + " Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n%s\n\n### Response:";

    private AlpacaPrompt() {}

    /** The prompt of {@code instruction} and {@code input} ({@code null} or "" selects the variant without input). */
    public static String of(String instruction, String input) {
        // Alpaca tests input != "", so an input of blanks still selects the input variant
        return input != null && !input.isEmpty() ? WITH_INPUT.formatted(instruction, input) : NO_INPUT.formatted(instruction);
    }
}
