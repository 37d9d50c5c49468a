package org.gpt4llm.data;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.gpt4llm.data.SftRecord.DataFormat;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * Reads instruction data: a JSON array of records, or JSONL (one record per line, by the
 * {@code .jsonl} extension). Each record is Alpaca ({@code instruction}, optional {@code input},
 * {@code output}) or ShareGPT ({@code conversations: [{from, value}]}, optionally with
 * {@code chosen}/{@code rejected}: then the conversation plus {@code chosen} is the SFT target);
 * a record with a {@code conversations} field is ShareGPT. Files are small enough (tens of
 * thousands of records) to read whole.
 */
public final class InstructionReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private InstructionReader() {}

    /** Records read, and the malformed ones that were skipped. */
    public record Loaded(List<SftRecord> records, List<Skip> skipped) {}

    /**
     * Reads every file in order. A malformed record is skipped and listed, or with {@code strict}
     * ends the read with a {@link MalformedRecordException}. A file that is not JSON is an
     * IOException naming the file (and the line for JSONL).
     */
    public static Loaded read(List<Path> files, boolean strict) throws IOException {
        List<SftRecord> records = new ArrayList<>();
        List<Skip> skipped = new ArrayList<>();
        for (Path file : files) {
            for (Raw raw : rawRecords(file)) {
                try {
                    records.add(parse(raw.ref, raw.node));
                } catch (MalformedRecordException e) {
                    if (strict) throw e;
                    skipped.add(e.skip());
                }
            }
        }
        return new Loaded(records, skipped);
    }

    /** One record's JSON, before it is parsed, and where it came from. */
    record Raw(RecordRef ref, JsonNode node) {}

    /** The records of one file, as JSON trees: the elements of a JSON array, or the non-blank lines of JSONL. */
    static List<Raw> rawRecords(Path file) throws IOException {
        String text = TextFiles.read(file);
        return file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".jsonl") ? jsonLines(file, text)
                : jsonArray(file, text);
    }

    private static List<Raw> jsonArray(Path file, String text) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IOException(file + " is not JSON" + at(e.getLocation()) + ": " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isArray()) {
            throw new IOException(file + " is not a JSON array of records (a .jsonl file holds one record per line)");
        }
        List<Raw> out = new ArrayList<>(root.size());
        for (int i = 0; i < root.size(); i++) out.add(new Raw(new RecordRef(file, i, 0), root.get(i)));
        return out;
    }

    private static List<Raw> jsonLines(Path file, String text) throws IOException {
        List<Raw> out = new ArrayList<>();
        List<String> lines = text.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            int line = i + 1;
            if (lines.get(i).isBlank()) continue;
            try {
                out.add(new Raw(new RecordRef(file, out.size(), line), JSON.readTree(lines.get(i))));
            } catch (JsonProcessingException e) {
                throw new IOException(file + " line " + line + " is not JSON: " + e.getOriginalMessage(), e);
            }
        }
        return out;
    }

    private static String at(JsonLocation loc) {
        return loc == null || loc.getLineNr() < 1 ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
    }

    /** One record; a record that cannot be trained on throws {@link MalformedRecordException}. */
    static SftRecord parse(RecordRef ref, JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new MalformedRecordException(ref, "the record is " + kind(node) + ", not a JSON object");
        }
        return node.has("conversations") ? shareGpt(ref, node) : alpaca(ref, node);
    }

    private static SftRecord alpaca(RecordRef ref, JsonNode node) {
        String instruction = string(ref, node, "instruction", true);
        String input = string(ref, node, "input", false);
        String output = string(ref, node, "output", true);
        return new SftRecord(ref, DataFormat.ALPACA, "", List.of(new Turn(instruction, input, output)));
    }

    private static SftRecord shareGpt(RecordRef ref, JsonNode node) {
        return conversation(ref, node, node.has("chosen") ? "chosen" : null);
    }

    /**
     * A ShareGPT conversation; with {@code answerField} (e.g. {@code chosen} or {@code rejected}) the
     * conversation ends with the user's turn and that field (a gpt message, or a string) answers it.
     */
    static SftRecord conversation(RecordRef ref, JsonNode node, String answerField) {
        JsonNode conv = node.get("conversations");
        if (!conv.isArray()) throw new MalformedRecordException(ref, "'conversations' is " + kind(conv) + ", not an array");
        if (conv.isEmpty()) throw new MalformedRecordException(ref, "'conversations' is empty");
        List<JsonNode> messages = new ArrayList<>();
        conv.forEach(messages::add);
        if (answerField != null) {
            // a preference pair: the conversation ends with the user's turn and the answer field answers it
            JsonNode answer = node.get(answerField);
            if (answer == null) throw new MalformedRecordException(ref, "the record has no '" + answerField + "' field");
            messages.add(answer.isTextual() ? JSON.createObjectNode().put("from", "gpt").put("value", answer.asText()) : answer);
        }
        Messages m = new Messages(ref, messages, answerField == null ? -1 : conv.size(), answerField);
        String system = "";
        int i = 0;
        if (m.role(0).equals("system")) {
            system = m.value(0);
            i = 1;
        }
        List<Turn> turns = new ArrayList<>();
        for (; i < messages.size(); i += 2) {
            m.expect(i, "human");
            if (i + 1 >= messages.size()) {
                throw new MalformedRecordException(ref, "the conversation ends with a human turn that has no answer");
            }
            m.expect(i + 1, "gpt");
            turns.add(new Turn(m.value(i), "", m.value(i + 1)));
        }
        if (turns.isEmpty()) throw new MalformedRecordException(ref, "the conversation has no human turn");
        return new SftRecord(ref, DataFormat.SHAREGPT, system, turns);
    }

    /** The messages of a conversation; the one at {@code answerAt}, if any, is the answer field's. */
    private record Messages(RecordRef ref, List<JsonNode> list, int answerAt, String answerField) {
        String name(int i) {
            return i == answerAt ? "'" + answerField + "'" : "conversations[" + i + "]";
        }

        /** The normalised role: human, gpt or system (user/assistant are accepted as synonyms). */
        String role(int i) {
            JsonNode message = list.get(i);
            if (message == null || !message.isObject()) {
                throw new MalformedRecordException(ref, name(i) + " is " + kind(message) + ", not an object");
            }
            return switch (rawRole(message)) {
                case "human", "user" -> "human";
                case "gpt", "assistant" -> "gpt";
                case "system" -> "system";
                default -> throw new MalformedRecordException(ref, name(i) + " has role '" + rawRole(message)
                        + "', expected human, gpt or system");
            };
        }

        void expect(int i, String role) {
            if (!role(i).equals(role)) {
                throw new MalformedRecordException(ref, name(i) + " is from '" + rawRole(list.get(i)) + "' where a " + role
                        + " turn was expected");
            }
        }

        String value(int i) {
            JsonNode message = list.get(i);
            JsonNode v = message.has("value") ? message.get("value") : message.get("content");
            if (v == null || !v.isTextual()) {
                throw new MalformedRecordException(ref, name(i) + " has " + kind(v) + " as its value, not a string");
            }
            return v.asText();
        }
    }

    private static String rawRole(JsonNode message) {
        JsonNode from = message.has("from") ? message.get("from") : message.get("role");
        return from != null && from.isTextual() ? from.asText() : String.valueOf(from);
    }

    private static String value(RecordRef ref, JsonNode message, int i) {
        JsonNode v = message.has("value") ? message.get("value") : message.get("content");
        if (v == null || !v.isTextual()) {
            throw new MalformedRecordException(ref, "conversation message " + i + " has " + kind(v) + " as its value, not a string");
        }
        return v.asText();
    }

    static String string(RecordRef ref, JsonNode node, String field, boolean required) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (required) throw new MalformedRecordException(ref, "the record has no '" + field + "' field");
            return "";
        }
        if (!v.isTextual()) throw new MalformedRecordException(ref, "'" + field + "' is " + kind(v) + ", not a string");
        return v.asText();
    }

    /** What a JSON value is, for messages: "missing", "null", "an array", "a number", ... */
    static String kind(JsonNode n) {
        if (n == null || n.isMissingNode()) return "missing";
        if (n.isNull()) return "null";
        if (n.isArray()) return "an array";
        if (n.isObject()) return "an object";
        if (n.isNumber()) return "a number";
        if (n.isBoolean()) return "a boolean";
        return "a string";
    }
}
