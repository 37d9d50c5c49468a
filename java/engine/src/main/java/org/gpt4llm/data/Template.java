package org.gpt4llm.data;

import java.util.Locale;
import org.gpt4llm.data.SftRecord.DataFormat;
import org.gpt4llm.datagen.job.AlpacaPrompt;

/**
 * How a turn becomes the prompt text the model sees; the turn's response follows the prompt
 * directly (no separator), then EOS, as Alpaca's train.py does.
 *
 * <ul>
 *   <li>{@code alpaca}: Stanford Alpaca's PROMPT_DICT, byte for byte (with and without input; no
 *       newline after {@code ### Response:}).</li>
 *   <li>{@code plain}: the instruction, a blank line and the input if any, then a blank line.</li>
 *   <li>{@code chat}: role tags, for multi-turn conversations:
 *       {@code "### Human:\n{instruction}\n\n### Assistant:\n"} per turn (an Alpaca input is appended
 *       to the instruction after a blank line).</li>
 * </ul>
 * A system prompt, when a record has one, comes before the first turn's prompt followed by a blank
 * line, in every template.
 */
public enum Template {
    ALPACA, PLAIN, CHAT;

    /** The prompt of a single instruction (and optional input), e.g. for generation. */
    public String prompt(String instruction, String input) {
        // Alpaca tests input != "", so an input of blanks still selects the input variant
        boolean hasInput = input != null && !input.isEmpty();
        return switch (this) {
            case ALPACA -> AlpacaPrompt.of(instruction, input); // the prompt the data was collected with
            case PLAIN -> instruction + (hasInput ? "\n\n" + input : "") + "\n\n";
            case CHAT -> "### Human:\n" + instruction + (hasInput ? "\n\n" + input : "") + "\n\n### Assistant:\n";
        };
    }

    /** The prompt of turn {@code i} of a record: the system prompt goes before the first one. */
    public String prompt(SftRecord record, int i) {
        Turn t = record.turns().get(i);
        String p = prompt(t.instruction(), t.input());
        return i == 0 && !record.system().isEmpty() ? record.system() + "\n\n" + p : p;
    }

    /** Alpaca's template for Alpaca files, the chat template for conversations. */
    public static Template defaultFor(DataFormat format) {
        return format == DataFormat.ALPACA ? ALPACA : CHAT;
    }

    /** The template named by {@code --template} (alpaca, plain or chat). */
    public static Template parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--template " + name + " is not one of alpaca, plain, chat");
        }
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
