package org.gpt4llm.data;

import java.nio.file.Path;

/**
 * Where a record came from, so that every message about it can name it.
 *
 * @param file  the data file
 * @param index 0-based position of the record in the file (JSON array element, or JSONL record)
 * @param line  1-based line of a JSONL record, 0 for an element of a JSON array
 */
public record RecordRef(Path file, int index, int line) {
    /** {@code file:index} for a JSON array, {@code file line N} for JSONL. */
    public String where() {
        return line > 0 ? file + " line " + line : file + ":" + index;
    }

    @Override
    public String toString() {
        return where();
    }
}
