package org.gpt4llm.data;

import org.gpt4llm.tokenizer.Tokenizer;

/**
 * Scored groups to token rows for a reward model: each response becomes one row
 * {@code [BOS] + prompt + response + EOS}, tokenised exactly as {@link SftEncoder} tokenises the
 * conversation that the response completes (history turns each followed by EOS; BOS and EOS only
 * where the tokenizer has them). The reward is read at the row's last token.
 *
 * <p>A row longer than {@code maxLen} first loses prompt tokens from the left (the oldest history goes
 * first; BOS stays), keeping at least {@code min(prompt length, maxLen / 4)} of them, the end of the
 * prompt next to the response; if that is not enough the response loses its tail, but EOS stays last so
 * the reward is always read at the same kind of token.
 */
public final class RewardEncoder {
    private final Tokenizer tokenizer;
    private final Template template;
    private final int maxLen;
    private long truncatedRows;

    /** @param template how prompts are rendered (not null: reward data mixes layouts, the caller picks one) */
    public RewardEncoder(Tokenizer tokenizer, Template template, int maxLen) {
        if (template == null) throw new NullPointerException("template");
        int specials = (tokenizer.bosId() >= 0 ? 1 : 0) + (tokenizer.eosId() >= 0 ? 1 : 0);  // kept by truncation
        if (maxLen <= specials) {
            throw new IllegalArgumentException("--max-len must be at least " + (specials + 1) + ", got " + maxLen);
        }
        this.tokenizer = tokenizer;
        this.template = template;
        this.maxLen = maxLen;
    }

    public int maxLen() {
        return maxLen;
    }

    /** Rows cut to {@code maxLen} so far. */
    public long truncatedRows() {
        return truncatedRows;
    }

    public EncodedGroup encode(ScoredGroup g) {
        int[][] rows = new int[g.size()][];
        for (int k = 0; k < g.size(); k++) rows[k] = row(g.record(k));
        return new EncodedGroup(g.ref(), rows, g.scores().clone());
    }

    private int[] row(SftRecord conversation) {
        SftEncoder.Tokens tokens = SftEncoder.tokenize(tokenizer, template, conversation, false, Integer.MAX_VALUE);
        int[] ids = tokens.ids();
        if (ids.length <= maxLen) return ids;
        truncatedRows++;
        int bos = tokenizer.bosId() >= 0 ? 1 : 0, eos = tokenizer.eosId() >= 0 ? 1 : 0;
        int responseStart = tokens.lastResponseStart();
        int promptLen = responseStart - bos, responseLen = ids.length - eos - responseStart;
        int room = maxLen - bos - eos;
        int keepPrompt = Math.min(promptLen, Math.max(Math.min(promptLen, maxLen / 4), room - responseLen));
        keepPrompt = Math.min(keepPrompt, room);
        int keepResponse = Math.min(responseLen, room - keepPrompt);
        int[] out = new int[bos + keepPrompt + keepResponse + eos];
        if (bos == 1) out[0] = ids[0];
        System.arraycopy(ids, responseStart - keepPrompt, out, bos, keepPrompt);
        System.arraycopy(ids, responseStart, out, bos + keepPrompt, keepResponse);
        if (eos == 1) out[out.length - 1] = ids[ids.length - 1];
        return out;
    }
}
