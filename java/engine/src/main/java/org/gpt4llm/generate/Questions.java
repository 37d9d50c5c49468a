package org.gpt4llm.generate;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * Evaluation questions, from any of the files the paper evaluates on (a JSON array or JSONL):
 * <ul>
 *   <li>Vicuna's {@code {question_id, text, category}}: one question each;</li>
 *   <li>Self-Instruct's user-oriented {@code {id, instruction, instances: [{input, output}]}}: one
 *       question per instance, its id the record's (with {@code _k} appended when it has several);</li>
 *   <li>Alpaca's {@code {instruction, input, output}}: the record's {@code id} if it has one, else its
 *       index (from 0).</li>
 * </ul>
 */
public final class Questions {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One prompt to answer; {@code id} keeps its JSON type (Vicuna's are numbers). */
    public record Question(JsonNode id, String instruction, String input, String category) {
        /** The id as a key, for finding it among answers already written. */
        public String key() {
            return id.asText();
        }
    }

    private Questions() {}

    public static List<Question> read(Path file) throws IOException {
        List<JsonNode> records = new ArrayList<>();
        List<String> where = new ArrayList<>();
        String text = TextFiles.read(file);
        if (text.stripLeading().startsWith("[")) {
            JsonNode array = parse(text, file.toString());
            for (int i = 0; i < array.size(); i++) {
                records.add(array.get(i));
                where.add(file + ": record " + i);
            }
        } else {
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank()) continue;
                records.add(parse(lines[i], file + ":" + (i + 1)));
                where.add(file + ":" + (i + 1));
            }
        }
        List<Question> out = new ArrayList<>();
        for (int i = 0; i < records.size(); i++) {
            JsonNode r = records.get(i);
            String at = where.get(i);
            if (r.has("question_id") && r.path("text").isTextual()) {
                out.add(new Question(r.get("question_id"), r.get("text").asText(), "", r.path("category").asText("")));
            } else if (r.path("instances").isArray() && r.path("instruction").isTextual()) {
                JsonNode inst = r.get("instances");
                if (inst.isEmpty()) throw new IllegalArgumentException(at + ": \"instances\" is empty");
                String id = r.has("id") ? r.get("id").asText() : String.valueOf(i);
                for (int k = 0; k < inst.size(); k++) {
                    String qid = inst.size() == 1 ? id : id + "_" + k;
                    out.add(new Question(TextNode.valueOf(qid), r.get("instruction").asText(),
                            inst.get(k).path("input").asText(""), r.path("motivation_app").asText("")));
                }
            } else if (r.path("instruction").isTextual()) {
                // a record with an id of its own (e.g. a demo task's) keeps it, so answers join their references by it
                JsonNode id = r.path("id").isTextual() || r.path("id").isIntegralNumber() ? r.get("id") : IntNode.valueOf(i);
                out.add(new Question(id, r.get("instruction").asText(), r.path("input").asText(""), r.path("category").asText("")));
            } else {
                throw new IllegalArgumentException(at + " is not a question: it needs question_id and text (Vicuna),"
                        + " instruction and instances (user-oriented) or instruction (Alpaca)");
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + " holds no questions");
        return out;
    }

    private static JsonNode parse(String json, String where) throws IOException {
        try {
            return JSON.readTree(json);
        } catch (JacksonException e) {
            throw new IOException(where + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }
}
