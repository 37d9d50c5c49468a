package org.gpt4llm.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.gpt4llm.datagen.files.TextFiles;

/** The text a tokenizer is trained on: Alpaca JSON/JSONL records' fields, or the lines of a plain text file. */
public final class TrainingTexts {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> ALPACA_FIELDS = List.of("instruction", "input", "output");

    private TrainingTexts() {
    }

    /** The non-empty texts of {@code file}: each Alpaca field separately, or each line of a .txt file. */
    public static List<String> read(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        List<String> texts = new ArrayList<>();
        if (name.endsWith(".json")) {
            JsonNode root = parse(file, TextFiles.read(file), 0);
            if (!root.isArray()) throw new IOException(file + " is not a JSON array of Alpaca records");
            for (int i = 0; i < root.size(); i++) addRecord(file, "record " + i, root.get(i), texts);
        } else if (name.endsWith(".jsonl")) {
            List<String> lines = TextFiles.lines(file);
            for (int i = 0; i < lines.size(); i++) {
                if (!lines.get(i).isBlank()) addRecord(file, "line " + (i + 1), parse(file, lines.get(i), i + 1), texts);
            }
        } else {
            for (String line : TextFiles.lines(file)) {
                if (!line.isEmpty()) texts.add(line);
            }
        }
        return texts;
    }

    private static JsonNode parse(Path file, String text, int line) throws IOException {
        try {
            return JSON.readTree(text);
        } catch (JacksonException e) {
            throw new IOException(file + (line > 0 ? " line " + line : "") + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static void addRecord(Path file, String where, JsonNode record, List<String> texts) throws IOException {
        if (!record.isObject() || !record.has("instruction") || !record.has("output")) {
            throw new IOException(file + " " + where + " is not an Alpaca record with instruction and output");
        }
        for (String field : ALPACA_FIELDS) {
            JsonNode v = record.path(field);
            if (v.isMissingNode() || v.isNull()) continue;
            if (!v.isTextual()) throw new IOException(file + " " + where + " has a non-text " + field);
            if (!v.asText().isEmpty()) texts.add(v.asText());
        }
    }
}
