package org.gpt4llm.eval.judge;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.datagen.job.JsonRecords.Located;

/**
 * One model's answers to the evaluation questions, a FastChat answer file ({@code question_id,
 * answer_id, model_id, text}, or the answer in {@code choices[0].turns[0]}), as {@code gpt4llm
 * generate} writes it.
 *
 * @param model   the records' {@code model_id}, else the file name without extension
 * @param answers by question id (as text)
 */
public record AnswerSet(Path file, String model, Map<String, Answer> answers) {
    /** @param id the record's {@code answer_id}, or null */
    public record Answer(String id, String text) {}

    public static AnswerSet read(Path file) throws IOException {
        List<Located> records = JsonRecords.read(file);
        if (records.isEmpty()) throw new IllegalArgumentException(file + " holds no answers");
        String stem = file.getFileName().toString().replaceFirst("\\.[^.]*$", "");
        String model = null;
        Map<String, Answer> answers = new LinkedHashMap<>();
        for (Located r : records) {
            JsonNode qid = r.node().get("question_id");
            if (qid == null || !(qid.isTextual() || qid.isIntegralNumber())) {
                throw new IllegalArgumentException(r.where() + " has no question_id; answers must be FastChat records {question_id, answer_id, model_id, text}");
            }
            JsonNode turn = r.node().path("choices").path(0).path("turns").path(0);
            String text;
            if (r.node().path("text").isTextual()) text = r.node().get("text").asText();
            else if (turn.isTextual()) text = turn.asText();
            else throw new IllegalArgumentException(r.where() + " has no answer text (\"text\" or choices[0].turns[0])");
            String m = r.node().path("model_id").asText(stem);
            if (model == null) model = m;
            else if (!model.equals(m)) throw new IllegalArgumentException(r.where() + " is an answer of " + m + " but the file's first is of " + model);
            JsonNode aid = r.node().get("answer_id");
            if (answers.put(qid.asText(), new Answer(aid == null || aid.isNull() ? null : aid.asText(), text)) != null) {
                throw new IllegalArgumentException(r.where() + " answers question_id " + qid.asText() + " again");
            }
        }
        return new AnswerSet(file, model, answers);
    }
}
