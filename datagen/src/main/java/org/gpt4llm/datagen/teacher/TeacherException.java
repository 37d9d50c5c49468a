package org.gpt4llm.datagen.teacher;

/** A request that failed for good (after the retries its kind allows); the message says why in one sentence. */
public final class TeacherException extends Exception {
    private final int status;

    /** {@code status}: the last HTTP status, or 0 when no response came (timeout, dropped connection). */
    public TeacherException(String message, int status, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
