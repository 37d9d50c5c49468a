package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reading the JSON a command wrote so that a missing value fails the test: {@code node.path("x").asDouble()}
 * is 0 when "x" is absent, and a check such as {@code rel_err <= tol} would pass on nothing. A file of
 * fixed shape is read into the record that writes it ({@link #read}), which fails on any field missing;
 * what a record cannot hold (keys that are there only sometimes) is read with {@link #required} and the like.
 */
public final class JsonChecks {
    /** Every field of the record must be in the JSON and not null, and the JSON may hold no field the record lacks. */
    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private JsonChecks() {}

    /** The JSON document in {@code file}, failing when it cannot be read or parsed. */
    public static JsonNode tree(Path file) {
        try {
            return STRICT.readTree(file.toFile());
        } catch (IOException e) {
            return fail(file + " is not readable JSON: " + e.getMessage(), e);
        }
    }

    /** {@code file} as a {@code type} (the record that writes it), failing when a field is missing, null or unknown. */
    public static <T> T read(Path file, Class<T> type) {
        return read(tree(file), type);
    }

    /** {@code json} as a {@code type} (the record that writes it), failing when a field is missing, null or unknown. */
    public static <T> T read(JsonNode json, Class<T> type) {
        try {
            return STRICT.treeToValue(json, type);
        } catch (JsonProcessingException e) {
            return fail("not a complete " + type.getSimpleName() + ": " + e.getOriginalMessage() + " in " + json, e);
        }
    }

    /** Every element of the non-empty array {@code node.field} read as by {@link #read(JsonNode, Class)}. */
    public static <T> List<T> readList(JsonNode node, String field, Class<T> type) {
        List<T> out = new ArrayList<>();
        for (JsonNode e : nonEmptyArray(node, field)) out.add(read(e, type));
        return out;
    }

    /** The field, failing when it is absent or null. */
    public static JsonNode required(JsonNode node, String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) fail("'" + field + "' is missing in " + node);
        return v;
    }

    /** A number field, failing when it is absent, null, not a number or not finite. */
    public static double number(JsonNode node, String field) {
        JsonNode v = required(node, field);
        assertTrue(v.isNumber(), "'" + field + "' is not a number in " + node);
        double d = v.asDouble();
        assertTrue(Double.isFinite(d), "'" + field + "' is not finite in " + node);
        return d;
    }

    /** A whole-number field, failing when it is absent, null or not an integer. */
    public static long integer(JsonNode node, String field) {
        JsonNode v = required(node, field);
        assertTrue(v.isIntegralNumber(), "'" + field + "' is not a whole number in " + node);
        return v.asLong();
    }

    /** A boolean field, failing when it is absent, null or not true/false. */
    public static boolean bool(JsonNode node, String field) {
        JsonNode v = required(node, field);
        assertTrue(v.isBoolean(), "'" + field + "' is not true or false in " + node);
        return v.asBoolean();
    }

    /** Element {@code i} of an array, failing when the node is not an array that long. */
    public static JsonNode element(JsonNode array, int i) {
        assertTrue(array.isArray() && i < array.size(), "no element " + i + " in " + array);
        return array.get(i);
    }

    /** A scalar field (a string, or a number or boolean as written) as text, failing when it is absent, null or a container. */
    public static String text(JsonNode node, String field) {
        JsonNode v = required(node, field);
        assertTrue(v.isValueNode(), "'" + field + "' is not a string, number or boolean in " + node);
        return v.asText();
    }

    /** An array field with at least one element, failing when it is absent, not an array or empty. */
    public static JsonNode nonEmptyArray(JsonNode node, String field) {
        JsonNode v = required(node, field);
        assertTrue(v.isArray(), "'" + field + "' is not an array in " + node);
        assertTrue(!v.isEmpty(), "'" + field + "' is empty in " + node);
        return v;
    }
}
