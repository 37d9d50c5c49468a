package org.gpt4llm.data;

/**
 * One exchange: what the user asked (an instruction and, for Alpaca records, an optional input)
 * and the answer the model is trained to give.
 *
 * @param instruction the user's text
 * @param input       Alpaca's "input" field, "" when absent (always "" for ShareGPT)
 * @param response    the assistant's answer, the supervised target
 */
public record Turn(String instruction, String input, String response) {
    public Turn {
        if (instruction == null || input == null || response == null) throw new NullPointerException("turn fields");
    }
}
