package org.gpt4llm.io;

import java.io.IOException;
import java.nio.file.Path;
import org.gpt4llm.datagen.files.FileErrors;

/**
 * A checkpoint or safetensors file that cannot be read or written. The message is one sentence that
 * names the file and, where there is one, the tensor, so it can be shown to a user as it is.
 */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * {@code e}, thrown while writing into a temp folder on the way to {@code target}, as a sentence about
     * {@code target} when the file system refused the write (a full disk, say); else {@code e} itself.
     */
    public static CheckpointException writing(Path target, CheckpointException e) {
        if (!(e.getCause() instanceof IOException io) || !FileErrors.isFileSystemFailure(io)) return e;
        return new CheckpointException("cannot write " + target + ": " + FileErrors.reason(io), e);
    }
}
