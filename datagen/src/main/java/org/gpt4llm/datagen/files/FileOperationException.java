package org.gpt4llm.datagen.files;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file operation that failed, told as one sentence: {@code cannot write /x/run/config.json: permission
 * denied}. The path is the one the user named (never a temp file written on its way); the failure the
 * operating system reported is the cause. Made by {@link FileErrors#about}.
 */
public final class FileOperationException extends IOException {
    private final transient Path path;
    private final String reason;

    FileOperationException(String operation, Path path, String reason, IOException cause) {
        super("cannot " + operation + " " + path + ": " + reason, cause);
        this.path = path;
        this.reason = reason;
    }

    public Path path() {
        return path;
    }

    /** Why it failed, in words: "permission denied", "no space left on the device", ... */
    public String reason() {
        return reason;
    }
}
