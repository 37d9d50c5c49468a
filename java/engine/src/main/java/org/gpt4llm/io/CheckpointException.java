package org.gpt4llm.io;

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
}
