package org.gpt4llm.eval.hhh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.EnumMap;
import java.util.Map;

/**
 * One rater's verdicts on one question: per criterion, which model was better (or a tie), with the
 * model that was shown on the left so position bias can be studied later.
 */
public record Vote(String rater, Instant time, String questionId, String modelA, String modelB, boolean leftIsA,
                   Map<Criterion, Choice> choices) {

    public Vote {
        if (choices.size() != Criterion.values().length) throw new IllegalArgumentException("a vote needs a choice for every criterion");
        choices = Map.copyOf(choices);
    }

    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("rater", rater);
        o.put("time", time.toString());
        o.put("question_id", questionId);
        o.put("model_a", modelA);
        o.put("model_b", modelB);
        o.put("left", leftIsA ? modelA : modelB);
        for (Criterion c : Criterion.values()) o.put(c.key(), choices.get(c).key);
        return o;
    }

    /** A vote record; {@code where} names the file and line for error messages. */
    public static Vote fromJson(JsonNode o, String where) {
        String modelA = field(o, "model_a", where);
        String modelB = field(o, "model_b", where);
        String left = field(o, "left", where);
        if (!left.equals(modelA) && !left.equals(modelB)) {
            throw new IllegalArgumentException(where + ": \"left\" is " + left + ", neither model_a nor model_b");
        }
        Instant time;
        try {
            time = Instant.parse(field(o, "time", where));
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException(where + ": \"time\" is not an ISO-8601 instant");
        }
        Map<Criterion, Choice> choices = new EnumMap<>(Criterion.class);
        for (Criterion c : Criterion.values()) choices.put(c, Choice.parse(field(o, c.key(), where), where));
        return new Vote(field(o, "rater", where), time, field(o, "question_id", where), modelA, modelB, left.equals(modelA), choices);
    }

    private static String field(JsonNode o, String name, String where) {
        JsonNode v = o.get(name);
        if (v == null || !v.isTextual()) throw new IllegalArgumentException(where + ": vote has no text field \"" + name + "\"");
        return v.asText();
    }
}
