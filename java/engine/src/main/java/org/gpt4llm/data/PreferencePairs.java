package org.gpt4llm.data;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * Scored groups to the chosen/rejected pairs that DPO trains on: within each prompt's responses, an
 * identical response text after the first is dropped (and counted), then every pair of the C(K,2)
 * with different scores becomes one (better, worse) pair, and a tie is skipped (and counted). Each
 * response is tokenised once as {@link SftEncoder} tokenises the conversation it completes, and only
 * its own tokens (and the EOS after it) are supervised: the tokens whose log-probability DPO sums.
 *
 * <p>Truncation to {@code maxLen}, as TRL's DPOTrainer does it with a prompt limit of half the length:
 * the prompt first loses tokens from its start (BOS stays), keeping at least
 * {@code min(prompt, maxLen / 2)} of its last tokens, then the response loses its tail (and its EOS).
 *
 * @param pairs              the pairs, group by group
 * @param tiedPairs          pairs of responses with equal scores, left out
 * @param duplicateResponses responses dropped for repeating an earlier response of the same prompt
 */
public record PreferencePairs(List<Pair> pairs, long tiedPairs, long duplicateResponses) {
    /** One preference: the same prompt answered better ({@code chosen}) and worse ({@code rejected}). */
    public record Pair(RecordRef ref, Example chosen, Example rejected) {}

    public PreferencePairs {
        pairs = List.copyOf(pairs);
    }

    /** The pairs of {@code groups}, each response rendered with {@code template} and tokenised with {@code tokenizer}. */
    public static PreferencePairs of(List<ScoredGroup> groups, Tokenizer tokenizer, Template template, int maxLen) {
        int bos = tokenizer.bosId() >= 0 ? 1 : 0;
        if (maxLen < bos + 2) throw new IllegalArgumentException("--max-len must be at least " + (bos + 2) + ", got " + maxLen);
        List<Pair> pairs = new ArrayList<>();
        long tied = 0, duplicates = 0;
        for (ScoredGroup g : groups) {
            List<Integer> kept = new ArrayList<>();
            Map<String, Integer> seen = new HashMap<>();
            for (int k = 0; k < g.size(); k++) {
                if (seen.putIfAbsent(g.responses().get(k), k) == null) kept.add(k);
                else duplicates++;
            }
            Example[] encoded = new Example[g.size()];
            for (int k : kept) encoded[k] = encode(g, k, tokenizer, template, maxLen, bos);
            float[] s = g.scores();
            for (int a = 0; a < kept.size(); a++) {
                for (int b = a + 1; b < kept.size(); b++) {
                    int i = kept.get(a), j = kept.get(b);
                    if (s[i] > s[j]) pairs.add(new Pair(g.ref(), encoded[i], encoded[j]));
                    else if (s[j] > s[i]) pairs.add(new Pair(g.ref(), encoded[j], encoded[i]));
                    else tied++;
                }
            }
        }
        return new PreferencePairs(pairs, tied, duplicates);
    }

    /** Response k of g as an example whose supervised tokens are that response's, truncated as described above. */
    private static Example encode(ScoredGroup g, int k, Tokenizer tokenizer, Template template, int maxLen, int bos) {
        SftRecord conversation = g.record(k);
        SftEncoder.Tokens t = SftEncoder.tokenize(tokenizer, template, conversation, false, Integer.MAX_VALUE);
        int[] ids = t.ids();
        int start = t.lastResponseStart(), prompt = start - bos, response = ids.length - start;
        int keepPrompt = Math.min(prompt, Math.max(Math.min(prompt, maxLen / 2), maxLen - bos - response));
        int keepResponse = Math.min(response, maxLen - bos - keepPrompt);
        int n = bos + keepPrompt + keepResponse;
        int[] outIds = new int[n], labels = new int[n];
        if (bos == 1) outIds[0] = ids[0];
        System.arraycopy(ids, start - keepPrompt, outIds, bos, keepPrompt + keepResponse);
        for (int i = 0; i < n; i++) labels[i] = i < bos + keepPrompt ? TokenBatch.IGNORE : outIds[i];
        return new Example(g.ref(), outIds, labels, bos + keepPrompt);
    }

    /** One line: pairs, and the ties and duplicates left out. */
    public String summary() {
        return pairs.size() + " pairs, " + tiedPairs + " tied pairs skipped, " + duplicateResponses
                + " duplicate responses dropped";
    }
}
