package org.gpt4llm.eval.judge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * What the reviews of one model against a reference add up to, as the paper reports it (Fig. 4/5):
 * per question the mean over its readable reviews (both orders) of each side's score; the totals
 * over questions; the relative score 100 · model total / reference total; win/tie/loss by question;
 * the questions whose two orders disagree on the winner; reviews that could not be read; all of it
 * per category too. In pairwise mode a question's winner is its verdicts' when both orders agree
 * and a tie when they disagree (FastChat's rule); totals are win points (1, ½ for a tie) and there
 * is no relative score.
 */
public record JudgeSummary(String model, String reference, String mode, Stats overall, Map<String, Stats> perCategory) {

    /**
     * @param questions     questions with at least one readable review
     * @param relativeScore percent; NaN in pairwise mode or when the reference total is 0
     * @param reviews       reviews read, readable or not
     * @param unparseable   reviews whose score could not be read (left out of every number)
     * @param disagreements questions judged readably in both orders whose two orders name different winners
     */
    public record Stats(int questions, double modelTotal, double referenceTotal, double relativeScore, int wins, int ties,
                        int losses, int reviews, int unparseable, int disagreements) {}

    /** One question's tally. */
    private static final class Tally {
        final List<double[]> pairs = new ArrayList<>(); // {model, reference} per readable review (order)
        final Map<String, double[]> single = new LinkedHashMap<>(); // side → rating
        int reviews, unparseable;
    }

    /** Sums the reviews (FastChat review records as {@link JudgeJob} writes them) of one model against one reference. */
    public static JudgeSummary of(List<JsonNode> reviews) {
        if (reviews.isEmpty()) throw new IllegalArgumentException("there are no reviews to sum");
        JsonNode meta0 = reviews.getFirst().path("metadata");
        String model = meta0.path("model").asText(), reference = meta0.path("reference").asText(), mode = meta0.path("mode").asText();
        Map<String, Tally> byQuestion = new LinkedHashMap<>();
        Map<String, String> categoryOf = new LinkedHashMap<>();
        for (JsonNode r : reviews) {
            JsonNode m = r.path("metadata");
            if (!m.path("model").asText().equals(model) || !m.path("reference").asText().equals(reference) || !m.path("mode").asText().equals(mode)) {
                throw new IllegalArgumentException("review " + r.path("review_id").asText() + " is of " + m.path("model").asText() + " vs "
                        + m.path("reference").asText() + " (" + m.path("mode").asText() + "), not " + model + " vs " + reference + " (" + mode + ")");
            }
            int position = m.path("model_position").asInt(0);
            if (position != 1 && position != 2 || !m.path("parsed").isBoolean()) {
                throw new IllegalArgumentException("review " + r.path("review_id").asText() + " of question " + r.path("question_id").asText()
                        + " does not say which answer is the model's (metadata.model_position, metadata.parsed); it was not written by eval judge");
            }
            String q = r.path("question_id").asText();
            categoryOf.put(q, m.path("category").asText("general"));
            Tally t = byQuestion.computeIfAbsent(q, k -> new Tally());
            t.reviews++;
            JsonNode s = r.path("score");
            if (!m.path("parsed").asBoolean(false)) {
                t.unparseable++;
                continue;
            }
            if (mode.equals("single")) {
                t.single.put(m.path("order").asText(), new double[] {s.path(0).asDouble()});
            } else {
                boolean modelFirst = m.path("model_position").asInt() == 1;
                double a = s.path(0).asDouble(), b = s.path(1).asDouble();
                t.pairs.add(modelFirst ? new double[] {a, b} : new double[] {b, a});
            }
        }
        Map<String, List<Tally>> perCat = new TreeMap<>();
        for (var e : byQuestion.entrySet()) perCat.computeIfAbsent(categoryOf.get(e.getKey()), k -> new ArrayList<>()).add(e.getValue());
        Map<String, Stats> cats = new LinkedHashMap<>();
        for (var e : perCat.entrySet()) cats.put(e.getKey(), stats(e.getValue(), mode));
        return new JudgeSummary(model, reference, mode, stats(new ArrayList<>(byQuestion.values()), mode), cats);
    }

    private static Stats stats(List<Tally> tallies, String mode) {
        int questions = 0, wins = 0, ties = 0, losses = 0, reviews = 0, unparseable = 0, disagreements = 0;
        double modelTotal = 0, refTotal = 0;
        for (Tally t : tallies) {
            reviews += t.reviews;
            unparseable += t.unparseable;
            List<double[]> pairs = t.pairs;
            if (mode.equals("single")) {
                // a question counts only when both answers were rated, so the totals compare like with like
                if (!t.single.containsKey("model") || !t.single.containsKey("reference")) continue;
                pairs = List.of(new double[] {t.single.get("model")[0], t.single.get("reference")[0]});
            }
            if (pairs.isEmpty()) continue;
            questions++;
            double m = 0, r = 0;
            for (double[] p : pairs) {
                m += p[0];
                r += p[1];
            }
            m /= pairs.size();
            r /= pairs.size();
            if (pairs.size() == 2 && Math.signum(pairs.get(0)[0] - pairs.get(0)[1]) != Math.signum(pairs.get(1)[0] - pairs.get(1)[1])) {
                disagreements++;
            }
            int outcome;
            if (mode.equals("pairwise")) {
                // both orders agree → their winner; they disagree → a tie
                outcome = pairs.size() == 2 && Math.signum(pairs.get(0)[0] - pairs.get(0)[1]) != Math.signum(pairs.get(1)[0] - pairs.get(1)[1])
                        ? 0 : (int) Math.signum(pairs.get(0)[0] - pairs.get(0)[1]);
                m = outcome > 0 ? 1 : outcome == 0 ? 0.5 : 0;
                r = 1 - m;
            } else {
                outcome = (int) Math.signum(m - r);
            }
            modelTotal += m;
            refTotal += r;
            if (outcome > 0) wins++;
            else if (outcome < 0) losses++;
            else ties++;
        }
        double relative = mode.equals("pairwise") || refTotal == 0 ? Double.NaN : 100 * modelTotal / refTotal;
        return new Stats(questions, modelTotal, refTotal, relative, wins, ties, losses, reviews, unparseable, disagreements);
    }

    /**
     * The review records of a JSONL file (the judge's output or a FastChat review file), in file
     * order; a partial last line (a run killed mid-write) is left out, an unreadable line before it
     * is an error naming the line.
     */
    public static List<JsonNode> readReviews(Path file) throws IOException {
        String[] lines = TextFiles.readLog(file).split("\n", -1);
        List<JsonNode> out = new ArrayList<>();
        int last = lines.length - 1;
        while (last >= 0 && lines[last].isBlank()) last--;
        for (int i = 0; i <= last; i++) {
            if (lines[i].isBlank()) continue;
            JsonNode n;
            try {
                n = JudgeJob.JSON.readTree(lines[i]);
            } catch (IOException e) {
                if (i == last) break;
                throw new IllegalArgumentException(file + ":" + (i + 1) + " is not JSON: " + e.getMessage().lines().findFirst().orElse(""));
            }
            if (!(n instanceof ObjectNode) || !n.has("question_id") || !n.path("score").isArray() || !n.path("metadata").isObject()) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + " is not a review: it needs question_id, score and metadata");
            }
            out.add(n);
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + " holds no reviews");
        return out;
    }

    /** This summary as the report's JSON. */
    public ObjectNode toJson() {
        ObjectNode n = JudgeJob.JSON.createObjectNode();
        n.put("model", model).put("reference", reference).put("mode", mode);
        n.set("overall", statsJson(overall));
        ObjectNode cats = n.putObject("per_category");
        perCategory.forEach((k, v) -> cats.set(k, statsJson(v)));
        return n;
    }

    private static ObjectNode statsJson(Stats s) {
        ObjectNode n = JudgeJob.JSON.createObjectNode();
        n.put("questions", s.questions()).put("model_total", s.modelTotal()).put("reference_total", s.referenceTotal());
        if (Double.isNaN(s.relativeScore())) n.putNull("relative_score");
        else n.put("relative_score", s.relativeScore());
        n.put("wins", s.wins()).put("ties", s.ties()).put("losses", s.losses());
        n.put("reviews", s.reviews()).put("unparseable", s.unparseable()).put("order_disagreements", s.disagreements());
        return n;
    }
}
