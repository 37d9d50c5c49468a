package org.gpt4llm.api;

import java.util.Objects;

/**
 * One instruction-following example, as an Alpaca record: the model is trained on {@code output}
 * given the prompt that the fine-tuning's template makes of {@code instruction} and {@code input}.
 *
 * @param instruction what is asked (not empty)
 * @param input       optional context for the instruction, "" when there is none (null is read as "")
 * @param output      the answer the model learns to give (not empty)
 */
public record TrainingExample(String instruction, String input, String output) {
    public TrainingExample {
        Objects.requireNonNull(instruction, "instruction");
        Objects.requireNonNull(output, "output");
        if (input == null) input = "";
        if (instruction.isBlank()) throw new IllegalArgumentException("a training example needs an instruction");
        if (output.isEmpty()) throw new IllegalArgumentException("a training example needs an output to learn");
    }

    /** An example without input. */
    public static TrainingExample of(String instruction, String output) {
        return new TrainingExample(instruction, "", output);
    }
}
