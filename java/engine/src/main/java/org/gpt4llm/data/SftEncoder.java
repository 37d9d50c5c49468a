package org.gpt4llm.data;

import java.util.Arrays;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * Records to token ids and labels, following Alpaca's train.py: for each turn the prompt alone and
 * prompt + response are tokenised; the tokens the two share at the start are the prompt (labels
 * -100 unless {@code trainOnInputs}), the rest are the response; EOS follows each response.
 * {@code ids = [BOS] + turn 1 + EOS + turn 2 + EOS ...}, BOS only when the tokenizer has one.
 *
 * <p>Boundary effects: tokenising prompt + response as one string is what the model sees at
 * generation time, so that string's tokens are kept. Where a token straddles the prompt/response
 * boundary (a merge across it), Alpaca masks by the prompt's own token count and may mask or train
 * one token wrongly; here the boundary is the longest common prefix of the two tokenisations, so a
 * straddling token counts as response (supervised). Each turn of a conversation is tokenised on its
 * own, because EOS sits between turns as an id, not as text.
 *
 * <p>Truncation keeps the whole first prompt: an example longer than {@code maxLen} loses the tail
 * of its response (and the EOS, so the model is not taught to stop mid-answer). A record whose first
 * prompt leaves no room for a single response token is a {@link MalformedRecordException}.
 */
public final class SftEncoder {
    private final Tokenizer tokenizer;
    private final Template template;
    private final int maxLen;
    private final boolean trainOnInputs;

    /** @param template null to use each record's default ({@link Template#defaultFor}) */
    public SftEncoder(Tokenizer tokenizer, Template template, int maxLen, boolean trainOnInputs) {
        if (maxLen < 2) throw new IllegalArgumentException("--max-len must be at least 2, got " + maxLen);
        this.tokenizer = tokenizer;
        this.template = template;
        this.maxLen = maxLen;
        this.trainOnInputs = trainOnInputs;
    }

    public int maxLen() {
        return maxLen;
    }

    public Example encode(SftRecord record) {
        Template t = template != null ? template : Template.defaultFor(record.format());
        Tokens tokens = tokenize(tokenizer, t, record, trainOnInputs, maxLen);
        if (tokens.firstPromptEnd() >= maxLen) {
            throw new MalformedRecordException(record.ref(),
                    "prompt of " + tokens.firstPromptEnd() + " tokens is longer than --max-len " + maxLen + " allows");
        }
        int n = Math.min(tokens.ids().length, maxLen);
        return new Example(record.ref(), Arrays.copyOf(tokens.ids(), n), Arrays.copyOf(tokens.labels(), n),
                tokens.firstPromptEnd());
    }

    /**
     * A record's turns as ids and labels, untruncated.
     *
     * @param firstPromptEnd    tokens before the first response token (BOS and the first prompt)
     * @param lastResponseStart where the response of the last turn tokenised begins
     */
    record Tokens(int[] ids, int[] labels, int firstPromptEnd, int lastResponseStart) {}

    /**
     * {@code [BOS] + prompt 1 + response 1 + EOS + ...} as described above, stopping after the first
     * turn that reaches {@code stopAt} tokens (the rest would be cut anyway).
     */
    static Tokens tokenize(Tokenizer tokenizer, Template t, SftRecord record, boolean trainOnInputs, int stopAt) {
        IntList ids = new IntList(), labels = new IntList();
        if (tokenizer.bosId() >= 0) {
            ids.add(tokenizer.bosId());
            labels.add(TokenBatch.IGNORE);  // nothing predicts BOS
        }
        int firstPromptEnd = -1, responseStart = -1;
        for (int i = 0; i < record.turns().size(); i++) {
            String prompt = t.prompt(record, i);
            int[] full = tokenizer.encode(prompt + record.turns().get(i).response());
            int boundary = commonPrefix(tokenizer.encode(prompt), full);
            responseStart = ids.size() + boundary;
            if (i == 0) firstPromptEnd = responseStart;
            for (int j = 0; j < full.length; j++) {
                ids.add(full[j]);
                labels.add(j < boundary && !trainOnInputs ? TokenBatch.IGNORE : full[j]);
            }
            if (tokenizer.eosId() >= 0) {
                ids.add(tokenizer.eosId());
                labels.add(tokenizer.eosId());
            }
            if (ids.size() >= stopAt) break;
        }
        return new Tokens(Arrays.copyOf(ids.a, ids.n), Arrays.copyOf(labels.a, labels.n), firstPromptEnd, responseStart);
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = Math.min(a.length, b.length), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    /** A growable int array, to avoid boxing every token. */
    private static final class IntList {
        int[] a = new int[256];
        int n;

        void add(int v) {
            if (n == a.length) a = Arrays.copyOf(a, 2 * n);
            a[n++] = v;
        }

        int size() {
            return n;
        }
    }
}
