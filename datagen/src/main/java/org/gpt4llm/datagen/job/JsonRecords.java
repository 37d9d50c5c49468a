package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.files.TextFiles;

/** The JSON objects of a job's input file: a JSON array (Alpaca's releases) or JSONL (one object a line). */
public final class JsonRecords {
    static final ObjectMapper JSON = new ObjectMapper();

    /** One object and where it was, for error messages: {@code "file: record 3"} or {@code "file:4"}. */
    public record Located(ObjectNode node, String where) {}

    private JsonRecords() {}

    public static List<Located> read(Path file) throws IOException {
        String text = TextFiles.read(file);
        List<Located> out = new ArrayList<>();
        if (text.stripLeading().startsWith("[")) {
            JsonNode array = parse(text, file.toString());
            for (int i = 0; i < array.size(); i++) out.add(object(array.get(i), file + ": record " + i));
        } else {
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank()) continue;
                String where = file + ":" + (i + 1);
                out.add(object(parse(lines[i], where), where));
            }
        }
        return out;
    }

    /** The text field {@code name} of a record, {@code ""} when absent; an error naming the record when it is not text. */
    public static String text(Located r, String name) {
        JsonNode v = r.node().get(name);
        if (v == null || v.isNull()) return "";
        if (!v.isTextual()) throw new IllegalArgumentException(r.where() + ": \"" + name + "\" is not a string");
        return v.asText();
    }

    /** The text field {@code name} of a record, which must be there: absent or not text is an error naming the record. */
    public static String required(Located r, String name) {
        JsonNode v = r.node().get(name);
        if (v == null || v.isNull()) throw new IllegalArgumentException(r.where() + " has no \"" + name + "\"");
        return text(r, name);
    }

    /** Record {@code i} of list {@code field} of {@code r} (e.g. an instance), located for messages. */
    public static Located element(Located r, String field, int i) {
        return object(r.node().get(field).get(i), r.where() + ", " + field + "[" + i + "]");
    }

    private static Located object(JsonNode n, String where) {
        if (!(n instanceof ObjectNode o)) throw new IllegalArgumentException(where + " is not a JSON object");
        return new Located(o, where);
    }

    private static JsonNode parse(String json, String where) throws IOException {
        try {
            return JSON.readTree(json);
        } catch (JacksonException e) {
            throw new IOException(where + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }
}
