package org.gpt4llm.datagen.files;

import java.nio.charset.CharacterCodingException;
import java.nio.file.Path;

/**
 * A file holds bytes that are not UTF-8. Its message is one sentence naming the file, the line, the
 * byte offset and the bytes, e.g. {@code data.json line 12 (byte 4071): the byte 0xff is not UTF-8;
 * gpt4llm reads its text and JSON files as UTF-8}. Made by {@link TextFiles}.
 */
public final class NotUtf8Exception extends CharacterCodingException {
    private final transient Path file;
    private final long line;
    private final long offset;
    private final String message;

    NotUtf8Exception(Path file, long line, long offset, String message) {
        this.file = file;
        this.line = line;
        this.offset = offset;
        this.message = message;
    }

    public Path file() {
        return file;
    }

    /** The line the bad bytes are on, from 1. */
    public long line() {
        return line;
    }

    /** Where the bad bytes start, in bytes from the start of the file (from 0, as hex dumps count). */
    public long offset() {
        return offset;
    }

    @Override
    public String getMessage() {
        return message;
    }
}
