package org.gpt4llm.datagen.job;

/** Stanford Alpaca's prompt (train.py's PROMPT_DICT, with and without input), as the paper asked GPT-4. */
public final class AlpacaPrompt {
    private static final String WITH_INPUT = "Below is an instruction that describes a task, paired with an input that provides"
            + " further context. Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:";
    private static final String NO_INPUT = "Below is an instruction that describes a task."
            + " Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n%s\n\n### Response:";

    private AlpacaPrompt() {}

    /** Alpaca tests {@code input != ""}, so an input of blanks still selects the input variant. */
    public static String of(String instruction, String input) {
        return input == null || input.isEmpty() ? NO_INPUT.formatted(instruction) : WITH_INPUT.formatted(instruction, input);
    }
}
