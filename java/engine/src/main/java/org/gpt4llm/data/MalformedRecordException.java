package org.gpt4llm.data;

/**
 * A record that cannot be trained on. Loaders either count it as a {@link Skip} or, when strict,
 * let it end the run: its message is one sentence naming the file and record.
 */
public final class MalformedRecordException extends IllegalArgumentException {
    private final transient Skip skip;

    public MalformedRecordException(RecordRef ref, String reason) {
        super(ref.where() + ": " + reason + (reason.endsWith(".") ? "" : "."));
        this.skip = new Skip(ref, reason);
    }

    public Skip skip() {
        return skip;
    }
}
