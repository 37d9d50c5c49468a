package org.gpt4llm.eval.exact;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.datagen.job.JsonRecords.Located;
import org.gpt4llm.eval.rouge.RougeInputs;

/**
 * Pairs one model's predictions with the references of {@code eval exact}, reading records as
 * {@code eval rouge} does ({@link RougeInputs}). Every reference is one instance; one no prediction
 * answers is missing (counted wrong). How they are matched:
 * <ul>
 *   <li>{@code id}: every prediction has a {@code question_id} (or {@code id}) that is the
 *       {@code question_id} (or {@code id}) of a reference;</li>
 *   <li>{@code index}: otherwise, when the references are Alpaca records ({@code instruction}, no
 *       {@code question_id}), a prediction's id is the reference's index from 0, as {@code gpt4llm
 *       generate} numbers Alpaca questions;</li>
 *   <li>{@code position}: predictions without ids go with the references in order, as many of each.</li>
 * </ul>
 */
public final class ExactInputs {
    /** A reference's category when its record has none. */
    public static final String NO_CATEGORY = "(none)";

    /** One reference and the prediction that answers it ({@code null}: none does). */
    public record Instance(String id, String category, String prediction, List<String> references) {}

    /** The instances in the references' order, and how they were matched ("id", "index" or "position"). */
    public record Aligned(List<Instance> instances, String matchedBy) {}

    private ExactInputs() {}

    public static Aligned aligned(Path predictionsFile, Path referencesFile) throws IOException {
        List<Located> predictions = JsonRecords.read(predictionsFile), references = JsonRecords.read(referencesFile);
        if (predictions.isEmpty()) throw new IllegalArgumentException(predictionsFile + " has no records");
        if (references.isEmpty()) throw new IllegalArgumentException(referencesFile + " has no records");
        List<Instance> out = new ArrayList<>();
        if (!RougeInputs.allHaveIds(predictions)) {
            if (predictions.size() != references.size()) {
                throw new IllegalArgumentException(predictionsFile + " has " + predictions.size() + " records but " + referencesFile + " has "
                        + references.size() + " (without question_id on every prediction they are matched by position)");
            }
            for (int i = 0; i < references.size(); i++) out.add(instance(references.get(i), String.valueOf(i), RougeInputs.prediction(predictions.get(i))));
            return new Aligned(out, "position");
        }
        Map<String, Located> byId = new LinkedHashMap<>();
        if (RougeInputs.allHaveIds(references)) {
            for (Located r : references) {
                String id = RougeInputs.recordId(r).orElseThrow();
                if (byId.put(id, r) != null) throw new IllegalArgumentException(r.where() + " repeats id " + id);
            }
        }
        String matchedBy = "id";
        if (!predictions.stream().allMatch(p -> byId.containsKey(RougeInputs.recordId(p).orElseThrow()))) {
            boolean alpaca = references.stream().allMatch(r -> r.node().path("instruction").isTextual() && !r.node().has("question_id"));
            Located unmatched = predictions.stream().filter(p -> !isIndex(RougeInputs.recordId(p).orElseThrow(), references.size()))
                    .findFirst().orElse(null);
            if (!alpaca || unmatched != null) {
                Located p = unmatched != null ? unmatched
                        : predictions.stream().filter(x -> !byId.containsKey(RougeInputs.recordId(x).orElseThrow())).findFirst().orElseThrow();
                throw new IllegalArgumentException(p.where() + ": no reference in " + referencesFile + " has id "
                        + RougeInputs.recordId(p).orElseThrow() + (alpaca ? " (nor is it an index below " + references.size() + ")" : ""));
            }
            byId.clear();
            for (int i = 0; i < references.size(); i++) byId.put(String.valueOf(i), references.get(i));
            matchedBy = "index";
        }
        Map<String, String> answers = new HashMap<>();
        for (Located p : predictions) {
            String id = RougeInputs.recordId(p).orElseThrow();
            if (matchedBy.equals("index")) id = String.valueOf(Integer.parseInt(id.strip()));
            if (answers.put(id, RougeInputs.prediction(p)) != null) throw new IllegalArgumentException(p.where() + " answers id " + id + " again");
        }
        for (Map.Entry<String, Located> e : byId.entrySet()) out.add(instance(e.getValue(), e.getKey(), answers.get(e.getKey())));
        return new Aligned(out, matchedBy);
    }

    private static Instance instance(Located reference, String id, String prediction) {
        String category = reference.node().path("category").isTextual() && !reference.node().get("category").asText().isBlank()
                ? reference.node().get("category").asText() : NO_CATEGORY;
        return new Instance(id, category, prediction, RougeInputs.references(reference));
    }

    private static boolean isIndex(String id, int size) {
        try {
            int i = Integer.parseInt(id.strip());
            return i >= 0 && i < size;
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
