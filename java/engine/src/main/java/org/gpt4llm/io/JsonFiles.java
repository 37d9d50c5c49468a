package org.gpt4llm.io;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Map;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * JSON files read into typed values (records, or the builders that make them) through Jackson, with
 * errors of one sentence that name the file and the field: the type's own check (an
 * {@link IllegalArgumentException} of its constructor or builder), or which field holds the wrong
 * kind of value.
 */
public final class JsonFiles {
    private JsonFiles() {}

    /**
     * {@code file} as a {@code type}. Throws an {@link IOException} when the file cannot be read or is not
     * JSON, and an {@link IllegalArgumentException} "FILE: ..." when its content does not fit the type.
     */
    public static <T> T read(ObjectMapper mapper, Path file, Class<T> type) throws IOException {
        String text = TextFiles.read(file);
        try {
            return mapper.readValue(text, type);
        } catch (StreamReadException e) {
            throw new IOException(file + " is not valid JSON" + where(e.getLocation()) + ": " + e.getOriginalMessage(), e);
        } catch (JsonMappingException e) {
            throw new IllegalArgumentException(file + ": " + problem(e), e);
        }
    }

    /**
     * {@code tree}, read from {@code file}, as a {@code type}: an {@link IllegalArgumentException}
     * "FILE: ..." when it does not fit, as {@link #read} says it.
     */
    public static <T> T convert(ObjectMapper mapper, Path file, JsonNode tree, Class<T> type) throws IOException {
        try {
            return mapper.treeToValue(tree, type);
        } catch (JsonMappingException e) {
            throw new IllegalArgumentException(file + ": " + problem(e), e);
        }
    }

    /**
     * What a mapping error says, as the end of a sentence that starts with the file's name: the message of
     * the type's own {@link IllegalArgumentException}, else "field F is not an integer" and the like.
     */
    public static String problem(JsonMappingException e) {
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException own) return own.getMessage();
        }
        String field = field(e), original = String.valueOf(e.getOriginalMessage());
        if (e instanceof UnrecognizedPropertyException) return "unknown field " + field;
        // what a reader that requires every field says (FAIL_ON_MISSING_CREATOR_PROPERTIES and the like)
        if (field != null && (original.startsWith("Missing ") || original.startsWith("Null value for creator property"))) {
            return "field " + field + (original.startsWith("Missing ") ? " is missing" : " is null");
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            return (field == null ? "is not " : "field " + field + " is not ") + kind(m.getTargetType());
        }
        return (field == null ? "" : "field " + field + ": ") + e.getOriginalMessage();
    }

    /** The path of the value a mapping error is about ("data.rows", "lora_targets[1]"), or null for the whole document. */
    public static String field(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) b.append(b.isEmpty() ? "" : ".").append(r.getFieldName());
            else if (r.getIndex() >= 0) b.append('[').append(r.getIndex()).append(']');
        }
        return b.isEmpty() ? null : b.toString();
    }

    /** The kind of JSON value a Java type is read from, in words. */
    private static String kind(Class<?> type) {
        if (type == int.class || type == long.class || type == short.class || type == Integer.class || type == Long.class
                || type == Short.class) {
            return "an integer";
        }
        if (type == float.class || type == double.class || Number.class.isAssignableFrom(type)) return "a number";
        if (type == boolean.class || type == Boolean.class) return "true or false";
        if (type == String.class) return "a string";
        if (type.isArray() || Collection.class.isAssignableFrom(type)) return "a list";
        if (type.isEnum()) return "one of " + java.util.Arrays.toString(type.getEnumConstants());
        return Map.class.isAssignableFrom(type) || !type.getName().startsWith("java.") ? "a JSON object" : type.getSimpleName();
    }

    private static String where(JsonLocation at) {
        return at == null || at.getLineNr() < 1 ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
    }
}
