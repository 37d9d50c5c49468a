package org.gpt4llm.generate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.generate.Questions.Question;

/**
 * Rejection sampling's training data: from a best-of-n answer file ({@code gpt4llm generate --n K
 * --rerank RM}, whose records each hold the best of a question's samples and its reward in
 * {@code metadata.reward}), the best answer of every question whose reward reaches a minimum, as
 * Alpaca records ({@code instruction}, {@code input}, {@code output}, and the {@code reward} it got,
 * which the instruction reader passes over). Questions asking the same thing are kept once.
 */
public final class KeptAnswers {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param records   the Alpaca records kept, in the question file's order
     * @param questions distinct questions (by key) of the question file
     * @param answered  those of them the answer file answers
     * @param below     answered ones whose best reward is under the minimum
     */
    public record Result(ArrayNode records, int questions, int answered, int below) {
        public int kept() {
            return records.size();
        }

        /** Mean reward of the kept answers (NaN when none is kept). */
        public double meanReward() {
            double sum = 0;
            for (JsonNode r : records) sum += r.get("reward").asDouble();
            return records.isEmpty() ? Double.NaN : sum / records.size();
        }
    }

    private KeptAnswers() {}

    /** The best answer of every question of {@code questions} that {@code answers} answers with a reward of at least {@code minReward}. */
    public static Result select(List<Question> questions, Path answers, double minReward) throws IOException {
        Map<String, JsonRecords.Located> byKey = new HashMap<>();
        for (JsonRecords.Located r : JsonRecords.read(answers)) {
            JsonNode meta = r.node().get("metadata");
            if (meta == null || !meta.path("key").isTextual()) throw new IllegalArgumentException(r.where() + " has no metadata.key: it is not an answer file of gpt4llm generate");
            if (!meta.path("reward").isNumber()) {
                throw new IllegalArgumentException(r.where() + " has no metadata.reward: its answers were not scored by a reward model (generate --rerank)");
            }
            byKey.put(meta.get("key").asText(), r);
        }
        ArrayNode kept = JSON.createArrayNode();
        Set<String> seen = new HashSet<>();
        int answered = 0, below = 0;
        for (Question q : questions) {
            if (!seen.add(q.key())) continue;
            JsonRecords.Located a = byKey.get(q.key());
            if (a == null) continue;
            answered++;
            double reward = a.node().get("metadata").get("reward").asDouble();
            if (!(reward >= minReward)) {
                below++;
                continue;
            }
            ObjectNode rec = kept.addObject();
            rec.put("instruction", q.instruction()).put("input", q.input()).put("output", JsonRecords.required(a, "text"));
            rec.put("reward", reward);
        }
        return new Result(kept, seen.size(), answered, below);
    }

    /** The kept records as a file's bytes: a pretty-printed JSON array (Alpaca JSON) and a final newline. */
    public static byte[] bytes(Result result) throws IOException {
        return (JSON.writerWithDefaultPrettyPrinter().writeValueAsString(result.records()) + "\n").getBytes(StandardCharsets.UTF_8);
    }
}
