package org.gpt4llm.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads reward-model data (a JSON array or JSONL, as {@link InstructionReader}) in one of these layouts,
 * chosen per record by its fields:
 * <ul>
 *   <li>comparison data, as in the paper: {@code {user_input, responses_and_scores: [{response, score,
 *       source}]}}; a score is a number or a numeric string ({@code " 7.5 "}); an entry may also be an
 *       array {@code [response, score]}, {@code [response, score, source]}, or, as {@link RewardAnnotator}
 *       writes it, {@code [response, score, source, reward]} (null for an absent score or source; a file
 *       to be scored may also hold just {@code [response]}).</li>
 *   <li>ShareGPT pairs: {@code {conversations, chosen, rejected}}; the conversation ends with the user's
 *       turn, earlier turns are history, chosen and rejected are gpt messages (or strings).</li>
 *   <li>plain pairs: {@code {prompt | instruction, input?, chosen, rejected}} with string answers.</li>
 * </ul>
 * A pair's chosen answer scores 1 and its rejected one 0.
 */
public final class PreferenceReader {
    static final String COMPARISON = "responses_and_scores";

    private PreferenceReader() {}

    /**
     * Groups read and records skipped.
     *
     * @param pairs     ordered pairs (i, j) with score i above score j, over the groups kept: the loss terms
     * @param tiedPairs pairs with equal scores within the groups kept, which are left out of the loss (a
     *                  group whose scores all tie is skipped as a whole and counted in {@code skipped})
     */
    public record Loaded(List<ScoredGroup> groups, List<Skip> skipped, long pairs, long tiedPairs) {}

    /**
     * Reads every file in order. With {@code needScores} (training) a record needs at least two
     * responses, a numeric score for each, and two different scores; otherwise (scoring a file) scores
     * are optional (NaN when absent or not a number) and one response is enough. A record that cannot be
     * used is skipped with its reason. A file that is not JSON is an IOException, and a file none of
     * whose records has one of these layouts an IllegalArgumentException, both naming the file.
     */
    public static Loaded read(List<Path> files, boolean needScores) throws IOException {
        List<ScoredGroup> groups = new ArrayList<>();
        List<Skip> skipped = new ArrayList<>();
        long pairs = 0, tied = 0;
        for (Path file : files) {
            List<InstructionReader.Raw> raws = InstructionReader.rawRecords(file);
            if (!raws.isEmpty() && raws.stream().noneMatch(r -> isPreference(r.node()))) {
                throw new IllegalArgumentException(file + " is not preference data: no record has '" + COMPARISON
                        + "' (comparison data) or 'chosen' and 'rejected' (pairs)");
            }
            for (InstructionReader.Raw raw : raws) {
                try {
                    ScoredGroup g = parse(raw.ref(), raw.node(), needScores);
                    groups.add(g);
                    pairs += ScoredGroup.orderedPairs(g.scores());
                    tied += ScoredGroup.tiedPairs(g.scores());
                } catch (MalformedRecordException e) {
                    skipped.add(e.skip());
                }
            }
        }
        return new Loaded(List.copyOf(groups), List.copyOf(skipped), pairs, tied);
    }

    private static boolean isPreference(JsonNode node) {
        return node != null && node.isObject() && (node.has(COMPARISON) || node.has("chosen") || node.has("rejected"));
    }

    /** One record; a record that cannot be used throws {@link MalformedRecordException}. */
    static ScoredGroup parse(RecordRef ref, JsonNode node, boolean needScores) {
        if (node == null || !node.isObject()) {
            throw new MalformedRecordException(ref, "the record is " + InstructionReader.kind(node) + ", not a JSON object");
        }
        ScoredGroup g;
        if (node.has(COMPARISON)) {
            g = comparison(ref, node, needScores);
        } else if (node.has("chosen") || node.has("rejected")) {
            g = node.has("conversations") ? shareGptPair(ref, node) : plainPair(ref, node);
        } else {
            throw new MalformedRecordException(ref, "the record has neither '" + COMPARISON + "' nor 'chosen' and 'rejected'");
        }
        if (needScores) checkComparable(ref, g.scores());
        return g;
    }

    private static void checkComparable(RecordRef ref, float[] scores) {
        if (scores.length < 2) {
            throw new MalformedRecordException(ref, "only " + scores.length + " response, a comparison needs at least 2");
        }
        if (ScoredGroup.orderedPairs(scores) == 0) {
            throw new MalformedRecordException(ref, "all " + scores.length + " responses have the same score "
                    + formatScore(scores[0]) + ", so there is nothing to compare");
        }
    }

    private static String formatScore(float s) {
        return s == Math.rint(s) ? String.valueOf((long) s) : String.valueOf(s);
    }

    private static ScoredGroup comparison(RecordRef ref, JsonNode node, boolean needScores) {
        String prompt = InstructionReader.string(ref, node, "user_input", true);
        JsonNode list = node.get(COMPARISON);
        if (!list.isArray()) {
            throw new MalformedRecordException(ref, "'" + COMPARISON + "' is " + InstructionReader.kind(list) + ", not an array");
        }
        if (list.isEmpty()) throw new MalformedRecordException(ref, "'" + COMPARISON + "' is empty");
        int k = list.size();
        List<String> responses = new ArrayList<>(k), sources = new ArrayList<>(k);
        float[] scores = new float[k];
        for (int i = 0; i < k; i++) {
            String name = COMPARISON + "[" + i + "]";
            JsonNode e = list.get(i);
            JsonNode response, score, source;
            if (e.isObject()) {
                response = e.get("response");
                score = e.get("score");
                source = e.get("source");
            } else if (e.isArray() && e.size() >= 1 && e.size() <= 4) {
                response = e.get(0);
                score = e.get(1);
                source = e.get(2);
            } else {
                throw new MalformedRecordException(ref, name + " is " + InstructionReader.kind(e)
                        + (e.isArray() ? " of " + e.size() + " elements" : "")
                        + ", not {response, score, source} or [response, score, source]");
            }
            if (response == null || !response.isTextual()) {
                throw new MalformedRecordException(ref, name + " has " + InstructionReader.kind(response)
                        + " as its response, not a string");
            }
            if (source != null && !source.isNull() && !source.isTextual()) {
                throw new MalformedRecordException(ref, name + " has " + InstructionReader.kind(source)
                        + " as its source, not a string");
            }
            responses.add(response.asText());
            scores[i] = score(ref, name, score, needScores);
            sources.add(source == null || source.isNull() ? "" : source.asText());
        }
        return new ScoredGroup(ref, "", List.of(), prompt, "", responses, scores, sources);
    }

    /** A number, or a string holding one; absent is NaN unless scores are needed. */
    private static float score(RecordRef ref, String name, JsonNode v, boolean needScores) {
        float s = Float.NaN;
        String shown = null;
        if (v == null || v.isNull()) {
            if (needScores) throw new MalformedRecordException(ref, name + " has no score");
            return s;
        } else if (v.isNumber()) {
            s = v.floatValue();
            shown = v.asText();
        } else if (v.isTextual()) {
            shown = "'" + v.asText() + "'";
            try {
                s = Float.parseFloat(v.asText().trim());
            } catch (NumberFormatException e) {
                s = Float.NaN;
            }
        }
        if (!Float.isFinite(s) && needScores) {
            throw new MalformedRecordException(ref, name + " has score " + (shown != null ? shown : InstructionReader.kind(v))
                    + ", not a finite number");
        }
        return Float.isFinite(s) ? s : Float.NaN;
    }

    private static ScoredGroup shareGptPair(RecordRef ref, JsonNode node) {
        SftRecord chosen = InstructionReader.conversation(ref, node, "chosen");
        SftRecord rejected = InstructionReader.conversation(ref, node, "rejected");
        List<Turn> turns = chosen.turns();
        Turn last = turns.getLast();
        return pair(ref, chosen.system(), turns.subList(0, turns.size() - 1), last.instruction(), last.input(),
                last.response(), rejected.turns().getLast().response());
    }

    private static ScoredGroup plainPair(RecordRef ref, JsonNode node) {
        String promptField = node.has("prompt") ? "prompt" : "instruction";
        if (!node.has(promptField)) throw new MalformedRecordException(ref, "the record has no 'prompt' or 'instruction' field");
        String prompt = InstructionReader.string(ref, node, promptField, true);
        String input = InstructionReader.string(ref, node, "input", false);
        String chosen = InstructionReader.string(ref, node, "chosen", true);
        String rejected = InstructionReader.string(ref, node, "rejected", true);
        return pair(ref, "", List.of(), prompt, input, chosen, rejected);
    }

    private static ScoredGroup pair(RecordRef ref, String system, List<Turn> history, String instruction, String input,
                                    String chosen, String rejected) {
        return new ScoredGroup(ref, system, history, instruction, input, List.of(chosen, rejected), new float[] {1, 0},
                List.of("chosen", "rejected"));
    }
}
