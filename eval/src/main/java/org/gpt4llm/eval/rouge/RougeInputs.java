package org.gpt4llm.eval.rouge;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.datagen.job.JsonRecords.Located;

/**
 * The files {@code eval rouge} reads, each a JSON array or JSONL of objects.
 *
 * <ul>
 *   <li>Pairs: {@code {"prediction": ..., "reference": ...}} or {@code {"prediction": ..., "references": [...]}}.
 *   <li>Predictions: a FastChat answer file ({@code {"question_id", "text"}}, or the newer
 *       {@code {"question_id", "choices": [{"turns": [...]}]}}, first turn), Alpaca-format outputs
 *       ({@code {"instruction", "input", "output"}}), or {@code {"prediction"}}.
 *   <li>References: {@code "references"} (list), {@code "reference"}, {@code "output"} (Alpaca, Unnatural
 *       Instructions converted to Alpaca form) or {@code "text"} (FastChat).
 * </ul>
 *
 * Predictions and references are matched by {@code question_id} (or {@code id}) when every record of both
 * files has one, otherwise by position, and then both files must have as many records.
 */
public final class RougeInputs {
    private static final String[] PREDICTION_FIELDS = {"prediction", "text", "output", "answer"};
    private static final String[] REFERENCE_FIELDS = {"reference", "output", "text", "answer"};

    private RougeInputs() {}

    public static List<RougeEval.Instance> pairs(Path file) throws IOException {
        List<RougeEval.Instance> out = new ArrayList<>();
        for (Located r : JsonRecords.read(file)) {
            out.add(new RougeEval.Instance(id(r, out.size()), JsonRecords.required(r, "prediction"), references(r, new String[] {"reference"})));
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + " has no records");
        return out;
    }

    public static List<RougeEval.Instance> aligned(Path predictionsFile, Path referencesFile) throws IOException {
        List<Located> predictions = JsonRecords.read(predictionsFile), references = JsonRecords.read(referencesFile);
        if (predictions.isEmpty()) throw new IllegalArgumentException(predictionsFile + " has no records");
        List<RougeEval.Instance> out = new ArrayList<>();
        if (allHaveIds(predictions) && allHaveIds(references)) {
            Map<String, Located> byId = new HashMap<>();
            for (Located r : references) {
                if (byId.put(id(r, -1), r) != null) throw new IllegalArgumentException(r.where() + " repeats id " + id(r, -1));
            }
            for (Located p : predictions) {
                Located ref = byId.get(id(p, -1));
                if (ref == null) throw new IllegalArgumentException(p.where() + ": no reference in " + referencesFile + " has id " + id(p, -1));
                out.add(new RougeEval.Instance(id(p, -1), prediction(p), references(ref, REFERENCE_FIELDS)));
            }
        } else {
            if (predictions.size() != references.size()) {
                throw new IllegalArgumentException(predictionsFile + " has " + predictions.size() + " records but " + referencesFile + " has "
                        + references.size() + " (without question_id on every record they are matched by position)");
            }
            for (int i = 0; i < predictions.size(); i++) {
                out.add(new RougeEval.Instance(String.valueOf(i), prediction(predictions.get(i)), references(references.get(i), REFERENCE_FIELDS)));
            }
        }
        return out;
    }

    /** Whether every record has a {@code question_id} or {@code id} (and there is at least one record). */
    public static boolean allHaveIds(List<Located> records) {
        return !records.isEmpty() && records.stream().allMatch(r -> idNode(r) != null);
    }

    private static JsonNode idNode(Located r) {
        JsonNode id = r.node().get("question_id");
        if (id == null || id.isNull()) id = r.node().get("id");
        return id == null || id.isNull() || !id.isValueNode() ? null : id;
    }

    /** The record's {@code question_id}, else its {@code id}, as text; empty when it has neither. */
    public static Optional<String> recordId(Located r) {
        JsonNode id = idNode(r);
        return id == null ? Optional.empty() : Optional.of(id.asText());
    }

    private static String id(Located r, int index) {
        JsonNode id = idNode(r);
        return id != null ? id.asText() : String.valueOf(index);
    }

    /** A prediction record's text: FastChat's first turn, else "prediction", "text", "output" or "answer". */
    public static String prediction(Located r) {
        JsonNode choices = r.node().get("choices");
        if (choices != null && choices.isArray() && !choices.isEmpty()) {
            JsonNode turns = choices.get(0).get("turns");
            if (turns == null || !turns.isArray() || turns.isEmpty() || !turns.get(0).isTextual()) {
                throw new IllegalArgumentException(r.where() + ": \"choices\"[0] has no \"turns\" list of strings");
            }
            return turns.get(0).asText();
        }
        for (String field : PREDICTION_FIELDS) if (r.node().has(field)) return JsonRecords.required(r, field);
        throw new IllegalArgumentException(r.where() + " has none of \"prediction\", \"text\", \"output\", \"answer\", \"choices\"");
    }

    /** A reference record's texts: "references", else "reference", "output", "text" or "answer". */
    public static List<String> references(Located r) {
        return references(r, REFERENCE_FIELDS);
    }

    private static List<String> references(Located r, String[] fields) {
        JsonNode list = r.node().get("references");
        if (list != null && !list.isNull()) {
            if (!list.isArray() || list.isEmpty()) throw new IllegalArgumentException(r.where() + ": \"references\" is not a non-empty list");
            List<String> out = new ArrayList<>();
            for (JsonNode ref : list) {
                if (!ref.isTextual()) throw new IllegalArgumentException(r.where() + ": \"references\" holds something other than a string");
                out.add(ref.asText());
            }
            return out;
        }
        for (String field : fields) if (r.node().has(field)) return List.of(JsonRecords.required(r, field));
        throw new IllegalArgumentException(r.where() + " has no reference (\"references\" or \"" + String.join("\", \"", fields) + "\")");
    }
}
