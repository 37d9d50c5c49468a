package org.gpt4llm.generate;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.datagen.run.ContentKey;

/**
 * Evaluation questions, from any of the files the paper evaluates on (a JSON array or JSONL):
 * <ul>
 *   <li>Vicuna's {@code {question_id, text, category}}: one question each;</li>
 *   <li>Self-Instruct's user-oriented {@code {id, instruction, instances: [{input, output}]}}: one
 *       question per instance, its id the record's (with {@code _k} appended when it has several);</li>
 *   <li>Alpaca's {@code {instruction, input, output}}: the record's {@code id} if it has one, else its
 *       index (from 0).</li>
 * </ul>
 * Every question also has the key its answer is found by on a rerun: its own id when the file gives
 * one, otherwise a hash of its instruction and input (an index moves when the file is edited; the
 * content does not). Two questions with the same id are an error: one of the answers would be lost.
 */
public final class Questions {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One prompt to answer; {@code id} keeps its JSON type (Vicuna's are numbers) and is what answers
     * name; {@code key} is what marks it answered ({@link ContentKey}); {@code where} is its line
     * ("line 3") or, in a JSON array, its record ("record 2").
     */
    public record Question(JsonNode id, String instruction, String input, String category, String key, String where) {
        /** The id as text, as answer records name it. */
        public String idText() {
            return id.asText();
        }

        /** Whether the file gave this question its id (else the id is its index and the key its content). */
        public boolean ownId() {
            return key.equals(ContentKey.ofId(idText()));
        }
    }

    private Questions() {}

    /** The key of a question without an id of its own: what goes into its prompt. */
    public static String contentKey(String instruction, String input) {
        ObjectNode content = JSON.createObjectNode().put("instruction", instruction).put("input", input);
        return ContentKey.ofContent(content);
    }

    public static List<Question> read(Path file) throws IOException {
        List<JsonNode> records = new ArrayList<>();
        List<String> where = new ArrayList<>();
        String text = TextFiles.read(file);
        if (text.stripLeading().startsWith("[")) {
            JsonNode array = parse(text, file.toString());
            for (int i = 0; i < array.size(); i++) {
                records.add(array.get(i));
                where.add("record " + i);
            }
        } else {
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank()) continue;
                records.add(parse(lines[i], file + ":" + (i + 1)));
                where.add("line " + (i + 1));
            }
        }
        List<Question> out = new ArrayList<>();
        for (int i = 0; i < records.size(); i++) {
            JsonNode r = records.get(i);
            String w = where.get(i), at = w.startsWith("line ") ? file + ":" + w.substring(5) : file + ": " + w;
            if (r.has("question_id") && r.path("text").isTextual()) {
                out.add(owned(r.get("question_id"), r.get("text").asText(), "", r.path("category").asText(""), w));
            } else if (r.path("instances").isArray() && r.path("instruction").isTextual()) {
                JsonNode inst = r.get("instances");
                if (inst.isEmpty()) throw new IllegalArgumentException(at + ": \"instances\" is empty");
                boolean own = r.has("id");
                String id = own ? r.get("id").asText() : String.valueOf(i);
                for (int k = 0; k < inst.size(); k++) {
                    TextNode qid = TextNode.valueOf(inst.size() == 1 ? id : id + "_" + k);
                    String instruction = r.get("instruction").asText(), input = inst.get(k).path("input").asText("");
                    String category = r.path("motivation_app").asText("");
                    out.add(own ? owned(qid, instruction, input, category, w)
                            : new Question(qid, instruction, input, category, contentKey(instruction, input), w));
                }
            } else if (r.path("instruction").isTextual()) {
                String instruction = r.get("instruction").asText(), input = r.path("input").asText(""), category = r.path("category").asText("");
                // a record with an id of its own (e.g. a demo task's) keeps it, so answers join their references by it
                if (r.path("id").isTextual() || r.path("id").isIntegralNumber()) {
                    out.add(owned(r.get("id"), instruction, input, category, w));
                } else {
                    out.add(new Question(IntNode.valueOf(i), instruction, input, category, contentKey(instruction, input), w));
                }
            } else {
                throw new IllegalArgumentException(at + " is not a question: it needs question_id and text (Vicuna),"
                        + " instruction and instances (user-oriented) or instruction (Alpaca)");
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + " holds no questions");
        requireDistinctIds(file, out);
        return out;
    }

    /**
     * Notes on questions without ids that ask exactly the same (one answer is made for them and
     * written under each of their ids), one per group: {@code "<file>: the questions of lines 3 and 9 ask the same ..."}.
     */
    public static List<String> sameContent(Path file, List<Question> questions) {
        List<String> notes = new ArrayList<>();
        for (List<Question> group : byKey(questions).values()) {
            if (group.size() > 1) {
                notes.add(file + ": the questions of " + places(group) + " ask the same (instruction and input, no ids):"
                        + " answered once, the answer written for each");
            }
        }
        return notes;
    }

    /** The questions of each key, keys in order of first appearance. */
    static Map<String, List<Question>> byKey(List<Question> questions) {
        Map<String, List<Question>> groups = new LinkedHashMap<>();
        for (Question q : questions) groups.computeIfAbsent(q.key(), k -> new ArrayList<>()).add(q);
        return groups;
    }

    private static Question owned(JsonNode id, String instruction, String input, String category, String where) {
        return new Question(id, instruction, input, category, ContentKey.ofId(id.asText()), where);
    }

    /** Two questions with one id would share one answer: an answer file has one per id. */
    private static void requireDistinctIds(Path file, List<Question> questions) {
        Map<String, List<Question>> byId = new LinkedHashMap<>();
        for (Question q : questions) byId.computeIfAbsent(q.idText(), k -> new ArrayList<>()).add(q);
        for (Map.Entry<String, List<Question>> e : byId.entrySet()) {
            if (e.getValue().size() > 1) {
                throw new IllegalArgumentException(file + " gives question id " + e.getKey() + " to " + places(e.getValue())
                        + "; every question needs an id of its own, or one of their answers would be lost");
            }
        }
    }

    /** "line 3", "lines 3 and 9", "lines 3, 9 and 12" (or "records ..."): each place once. */
    private static String places(List<Question> group) {
        List<String> numbers = new ArrayList<>();
        for (Question q : group) {
            String n = q.where().substring(q.where().indexOf(' ') + 1);
            if (!numbers.contains(n)) numbers.add(n);
        }
        String kind = group.getFirst().where().substring(0, group.getFirst().where().indexOf(' '));
        if (numbers.size() == 1) return kind + " " + numbers.getFirst();
        return kind + "s " + String.join(", ", numbers.subList(0, numbers.size() - 1)) + " and " + numbers.getLast();
    }

    private static JsonNode parse(String json, String where) throws IOException {
        try {
            return JSON.readTree(json);
        } catch (JacksonException e) {
            throw new IOException(where + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }
}
