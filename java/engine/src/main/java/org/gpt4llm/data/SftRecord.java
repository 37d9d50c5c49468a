package org.gpt4llm.data;

import java.util.List;

/**
 * One training record as read from a file, before templating and tokenisation: an Alpaca record is
 * a single turn, a ShareGPT conversation one turn per human/gpt pair.
 *
 * @param system a system prompt, "" when there is none
 */
public record SftRecord(RecordRef ref, DataFormat format, String system, List<Turn> turns) {
    public SftRecord {
        turns = List.copyOf(turns);
        if (turns.isEmpty()) throw new IllegalArgumentException(ref + " has no turns");
    }

    /** The file layouts the reader understands. */
    public enum DataFormat {
        /** {@code {instruction, input?, output}} */
        ALPACA,
        /** {@code {conversations: [{from, value}], chosen?}} */
        SHAREGPT
    }
}
