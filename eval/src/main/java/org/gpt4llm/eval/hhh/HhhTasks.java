package org.gpt4llm.eval.hhh;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.datagen.job.JsonRecords.Located;

/**
 * The tasks of a human evaluation: each question with the answers of model A and model B.
 *
 * <p>Questions come as Vicuna's ({@code question_id, text}), Self-Instruct's user-oriented set
 * ({@code id, instruction, instances[0].input}) or Alpaca records ({@code instruction, input});
 * answers as FastChat answer records ({@code question_id, text, model_id}) or records with
 * {@code id} and {@code output}. Without ids, records pair up by position.
 */
public record HhhTasks(String modelA, String modelB, List<Task> tasks) {

    public record Task(String id, String instruction, String input, String answerA, String answerB) {}

    public Task task(String id) {
        for (Task t : tasks) if (t.id.equals(id)) return t;
        return null;
    }

    /** Model names default to the answers' {@code model_id} and else to the file names. */
    public static HhhTasks load(Path questions, Path answersA, Path answersB, String nameA, String nameB) throws IOException {
        Map<String, String[]> qs = new LinkedHashMap<>();
        List<Located> qRecords = JsonRecords.read(questions);
        if (qRecords.isEmpty()) throw new IllegalArgumentException(questions + " has no questions");
        for (int i = 0; i < qRecords.size(); i++) {
            Located r = qRecords.get(i);
            String id = id(r, i);
            String instruction = r.node().has("instruction") ? JsonRecords.required(r, "instruction") : JsonRecords.required(r, "text");
            String input = JsonRecords.text(r, "input");
            JsonNode instances = r.node().get("instances");
            if (input.isEmpty() && instances != null && instances.isArray() && !instances.isEmpty()) {
                input = JsonRecords.text(JsonRecords.element(r, "instances", 0), "input");
            }
            if (qs.put(id, new String[] {instruction, input}) != null) {
                throw new IllegalArgumentException(r.where() + ": question id " + id + " appears twice in " + questions);
            }
        }
        Answers a = answers(answersA, qs, questions);
        Answers b = answers(answersB, qs, questions);
        String modelA = nameA != null ? nameA : a.model;
        String modelB = nameB != null ? nameB : b.model;
        if (modelA.equals(modelB)) {
            throw new IllegalArgumentException("both answer files are named \"" + modelA + "\"; tell them apart with --name-a/--name-b");
        }
        List<Task> tasks = new ArrayList<>();
        qs.forEach((id, q) -> tasks.add(new Task(id, q[0], q[1], a.byId.get(id), b.byId.get(id))));
        return new HhhTasks(modelA, modelB, List.copyOf(tasks));
    }

    private record Answers(String model, Map<String, String> byId) {}

    private static Answers answers(Path file, Map<String, String[]> questions, Path questionFile) throws IOException {
        Map<String, String> byId = new HashMap<>();
        String model = null;
        List<Located> records = JsonRecords.read(file);
        for (int i = 0; i < records.size(); i++) {
            Located r = records.get(i);
            String id = id(r, i);
            if (!questions.containsKey(id)) {
                throw new IllegalArgumentException(r.where() + ": question id " + id + " is not in " + questionFile);
            }
            String text = r.node().has("text") ? JsonRecords.required(r, "text") : JsonRecords.required(r, "output");
            if (byId.put(id, text) != null) throw new IllegalArgumentException(r.where() + ": a second answer to question " + id);
            if (model == null && !JsonRecords.text(r, "model_id").isEmpty()) model = JsonRecords.text(r, "model_id");
        }
        for (String id : questions.keySet()) {
            if (!byId.containsKey(id)) throw new IllegalArgumentException(file + " has no answer to question " + id + " of " + questionFile);
        }
        if (model == null) {
            String name = file.getFileName().toString();
            int dot = name.indexOf('.');
            model = dot > 0 ? name.substring(0, dot) : name;
        }
        return new Answers(model, byId);
    }

    /** {@code question_id}, else {@code id}, else the record's position. */
    private static String id(Located r, int position) {
        JsonNode v = r.node().has("question_id") ? r.node().get("question_id") : r.node().get("id");
        if (v == null || v.isNull()) return Integer.toString(position);
        if (!v.isTextual() && !v.isIntegralNumber()) throw new IllegalArgumentException(r.where() + ": the question id is neither text nor a whole number");
        return v.asText();
    }
}
