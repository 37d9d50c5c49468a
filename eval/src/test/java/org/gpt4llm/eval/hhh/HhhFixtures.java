package org.gpt4llm.eval.hhh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.eval.report.ReportFiles;

/** Question and answer files on disk (Vicuna and FastChat formats), loaded as tasks. */
final class HhhFixtures {
    static final String MODEL_A = "llama-gpt4-7b";
    static final String MODEL_B = "alpaca-7b";

    private HhhFixtures() {}

    /** Questions q1, q2, … with distinct answers from both models. */
    static HhhTasks tasks(Path dir, String... questions) throws IOException {
        List<String> q = new ArrayList<>(), a = new ArrayList<>(), b = new ArrayList<>();
        for (int i = 0; i < questions.length; i++) {
            String id = "q" + (i + 1);
            q.add(json("question_id", id, "text", questions[i], "category", "generic"));
            a.add(json("question_id", id, "text", "Answer of A to " + questions[i] + "\n  indented line", "model_id", MODEL_A));
            b.add(json("question_id", id, "text", "B says: " + questions[i].toUpperCase(), "model_id", MODEL_B));
        }
        Files.write(dir.resolve("questions.jsonl"), q);
        Files.write(dir.resolve("answers_a.jsonl"), a);
        Files.write(dir.resolve("answers_b.jsonl"), b);
        return HhhTasks.load(dir.resolve("questions.jsonl"), dir.resolve("answers_a.jsonl"), dir.resolve("answers_b.jsonl"), null, null);
    }

    static String json(String... kv) throws IOException {
        var o = ReportFiles.JSON.createObjectNode();
        for (int i = 0; i < kv.length; i += 2) o.put(kv[i], kv[i + 1]);
        return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(o);
    }
}
