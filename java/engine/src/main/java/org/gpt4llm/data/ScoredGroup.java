package org.gpt4llm.data;

import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.data.SftRecord.DataFormat;

/**
 * One prompt and K responses to it, each with a score (higher is better): a record of the paper's
 * comparison data, or a chosen/rejected pair (scores 1 and 0). A reward model learns to order every
 * pair with different scores.
 *
 * @param system      a system prompt, "" when there is none
 * @param history     earlier turns of a conversation, oldest first (empty for single-turn records)
 * @param instruction the user's last message, which every response answers
 * @param input       an Alpaca-style input, "" when absent
 * @param scores      one per response; NaN where a file being scored has none
 * @param sources     one per response: who wrote it ("gpt4", "chosen", ...), "" when unknown
 */
public record ScoredGroup(RecordRef ref, String system, List<Turn> history, String instruction, String input,
                          List<String> responses, float[] scores, List<String> sources) {
    public ScoredGroup {
        history = List.copyOf(history);
        responses = List.copyOf(responses);
        sources = List.copyOf(sources);
        if (responses.isEmpty()) throw new IllegalArgumentException(ref + " has no responses");
        if (scores.length != responses.size() || sources.size() != responses.size()) {
            throw new IllegalArgumentException(ref + ": " + responses.size() + " responses, " + scores.length
                    + " scores and " + sources.size() + " sources");
        }
    }

    /** Number of responses, K. */
    public int size() {
        return responses.size();
    }

    /** The conversation that response {@code k} completes: the history, then the last turn answered by it. */
    public SftRecord record(int k) {
        List<Turn> turns = new ArrayList<>(history);
        turns.add(new Turn(instruction, input, responses.get(k)));
        return new SftRecord(ref, DataFormat.SHAREGPT, system, turns);
    }

    /**
     * The text every response follows: the system prompt and history turns as {@code t} renders them
     * (each turn's prompt and then its response), then the prompt of the last turn. In token form an
     * EOS id separates the turns ({@link SftEncoder}); as text they follow each other directly.
     */
    public String prompt(Template t) {
        SftRecord r = record(0);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < history.size(); i++) sb.append(t.prompt(r, i)).append(history.get(i).response());
        return sb.append(t.prompt(r, history.size())).toString();
    }

    /** Pairs (i, j) with {@code scores[i] > scores[j]}: the terms of the pairwise loss (NaN orders nothing). */
    public static int orderedPairs(float[] scores) {
        int n = 0;
        for (float a : scores) for (float b : scores) if (a > b) n++;
        return n;
    }

    /** Unordered pairs with equal scores, which teach nothing. */
    public static int tiedPairs(float[] scores) {
        int n = 0;
        for (int i = 0; i < scores.length; i++) for (int j = i + 1; j < scores.length; j++) if (scores[i] == scores[j]) n++;
        return n;
    }
}
