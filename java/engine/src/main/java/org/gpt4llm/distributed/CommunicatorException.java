package org.gpt4llm.distributed;

/** A collective that could not complete: a rank failed, never arrived, or the transport reported an error. */
public final class CommunicatorException extends RuntimeException {
    public CommunicatorException(String message) {
        super(message);
    }

    public CommunicatorException(String message, Throwable cause) {
        super(message, cause);
    }
}
