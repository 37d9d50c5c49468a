package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Input files of jobs: a JSON array of objects, or JSONL (one object a line, blank lines skipped). */
public final class JsonInput {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonInput() {}

    /** The objects of {@code file} in order; anything else is one error naming the file and the record. */
    public static List<ObjectNode> objects(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new FileNotFoundException("input file " + file + " does not exist");
        }
        List<ObjectNode> out = new ArrayList<>();
        if (text.stripLeading().startsWith("[")) {
            JsonNode root;
            try {
                root = JSON.readTree(text);
            } catch (JsonProcessingException e) {
                throw new IOException("input file " + file + " is not valid JSON: " + e.getOriginalMessage());
            }
            for (int i = 0; i < root.size(); i++) {
                if (!(root.get(i) instanceof ObjectNode o)) throw new IOException("record " + i + " of " + file + " is not a JSON object");
                out.add(o);
            }
            return out;
        }
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) continue;
            JsonNode n;
            try {
                n = JSON.readTree(lines[i]);
            } catch (JsonProcessingException e) {
                throw new IOException("line " + (i + 1) + " of " + file + " is not valid JSON: " + e.getOriginalMessage());
            }
            if (!(n instanceof ObjectNode o)) throw new IOException("line " + (i + 1) + " of " + file + " is not a JSON object");
            out.add(o);
        }
        return out;
    }

    /** {@code record.field} as text: missing or null gives {@code fallback} ({@code null}: required), anything but a string is an error. */
    public static String text(ObjectNode record, String field, String fallback, Path file, String where) throws IOException {
        JsonNode v = record.get(field);
        if (v == null || v.isNull()) {
            if (fallback == null) throw new IOException(where + " of " + file + " has no \"" + field + "\"");
            return fallback;
        }
        if (!v.isTextual()) throw new IOException("\"" + field + "\" of " + where + " of " + file + " is not a string");
        return v.asText();
    }
}
