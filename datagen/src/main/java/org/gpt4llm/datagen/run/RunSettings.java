package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

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

    /**
     * Whether {@code other} (a line's "settings") holds exactly these names and values. Numbers compare
     * by value: a setting written as a long reads back as an int.
     */
    public boolean matches(JsonNode other) {
        return other != null && values.equals(BY_VALUE, other);
    }

    private static final java.util.Comparator<JsonNode> BY_VALUE = (a, b) -> {
        if (a.isNumber() && b.isNumber()) return a.decimalValue().compareTo(b.decimalValue());
        return a.equals(b) ? 0 : 1;
    };

    /**
     * The first difference between these settings and {@code other}'s (a line of {@code file}), as the
     * sentence that refuses the file; empty when they match.
     */
    public Optional<String> difference(JsonNode other, Path file) {
        if (matches(other)) return Optional.empty();
        TreeSet<String> names = new TreeSet<>();
        values.fieldNames().forEachRemaining(names::add);
        if (other != null && other.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = other.fields(); it.hasNext(); ) names.add(it.next().getKey());
        }
        for (String n : names) {
            JsonNode mine = values.get(n), theirs = other == null ? null : other.get(n);
            if (mine == null || theirs == null || BY_VALUE.compare(mine, theirs) != 0) {
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
