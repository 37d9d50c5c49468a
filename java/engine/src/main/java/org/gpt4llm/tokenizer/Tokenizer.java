package org.gpt4llm.tokenizer;

/**
 * Text to token ids and back. Implementations: {@code HfTokenizer} (an HF {@code tokenizer.json}
 * through DJL's binding of the HF tokenizers library). Special tokens are never added by
 * {@link #encode}: callers add BOS/EOS where their format wants them.
 */
public interface Tokenizer extends AutoCloseable {
    /** The ids of {@code text}, without any special token. */
    int[] encode(String text);

    /** The ids a prompt starts generation from: BOS first when the tokenizer has one (as in fine-tuning), then {@code text}'s. */
    default int[] encodeWithBos(String text) {
        int[] ids = encode(text);
        if (bosId() < 0) return ids;
        int[] out = new int[ids.length + 1];
        out[0] = bosId();
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }

    /** The text of {@code ids}, special tokens skipped. */
    String decode(int[] ids);

    int vocabSize();

    /** Id of the beginning-of-sequence token, or -1 when the tokenizer has none. */
    int bosId();

    /** Id of the end-of-sequence token, or -1 when the tokenizer has none. */
    int eosId();

    /** Id used to pad rows (the pad token, else EOS, else 0). */
    int padId();

    @Override
    default void close() {}
}
