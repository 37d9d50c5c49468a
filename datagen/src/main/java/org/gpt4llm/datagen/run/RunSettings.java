package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What besides an item's content decides its answer (the model, the prompt template, temperature,
 * max tokens, ...), as a flat JSON object that every output line carries. An output written with
 * other settings is another model's or another run's work: it is refused, never mixed in.
 */
public record RunSettings(ObjectNode values) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Settings built field by field: {@code RunSettings.of().put("model", m).put("temperature", t)}. */
    public static RunSettings of() {
        return new RunSettings(JSON.createObjectNode());
    }

    public RunSettings put(String name, String value) {
        ObjectNode v = values.deepCopy();
        if (value == null) v.putNull(name); else v.put(name, value);
        return new RunSettings(v);
    }

    public RunSettings put(String name, double value) {
        ObjectNode v = values.deepCopy();
        v.put(name, value);
        return new RunSettings(v);
    }

    public RunSettings put(String name, long value) {
        ObjectNode v = values.deepCopy();
        v.put(name, value);
        return new RunSettings(v);
    }

    /** Whether {@code other} (a line's "settings") holds exactly these names and values. */
    public boolean matches(JsonNode other) {
        return other != null && values.equals(SAME_VALUE, other);
    }

    /** Numbers compared by value: 1024 put as a long reads back from a line as an int. */
    private static final Comparator<JsonNode> SAME_VALUE = (a, b) -> a.equals(b)
            || a.isNumber() && b.isNumber() && a.decimalValue().compareTo(b.decimalValue()) == 0 ? 0 : 1;

    /**
     * The first difference between these settings and {@code other}'s (a line of {@code file}), in the
     * order the settings were put (the one a user chose before those that follow from it), as the
     * sentence that refuses the file; empty when they match.
     */
    public Optional<String> difference(JsonNode other, Path file) {
        if (matches(other)) return Optional.empty();
        Set<String> names = new LinkedHashSet<>();
        values.fieldNames().forEachRemaining(names::add);
        if (other != null && other.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = other.fields(); it.hasNext(); ) names.add(it.next().getKey());
        }
        for (String n : names) {
            JsonNode mine = values.get(n), theirs = other == null ? null : other.get(n);
            if (mine == null || theirs == null || !mine.equals(SAME_VALUE, theirs)) {
                return Optional.of(file + " holds answers made with " + n + " " + show(theirs) + ", not " + show(mine)
                        + " as this run asks; give another --out (answers of different " + n + " are never mixed in one file)");
            }
        }
        return Optional.of(file + " holds answers made with other settings than this run's; give another --out");
    }

    private static String show(JsonNode v) {
        return v == null || v.isMissingNode() ? "(none)" : v.toString();
    }
}
