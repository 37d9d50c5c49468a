package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Reading the JSON a command wrote so that a missing value fails the test: {@code node.path("x").asDouble()}
 * is 0 when "x" is absent, and a check such as {@code rel_err <= tol} would pass on nothing.
 */
public final class JsonChecks {
    private JsonChecks() {}

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
