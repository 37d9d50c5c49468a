package org.gpt4llm.eval.exact;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.gpt4llm.eval.exact.ExactInputs.Aligned;
import org.gpt4llm.eval.exact.ExactInputs.Instance;
import org.gpt4llm.eval.report.ReportFiles;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * Exact-match accuracy: a prediction is right when, with surrounding whitespace trimmed, it equals a
 * reference (also trimmed), case-sensitively. Overall and per reference {@code category}; a reference
 * no prediction answers counts as wrong and is listed as missing.
 */
public final class ExactEval {
    /** The label of the all-categories row. */
    public static final String ALL = "ALL";
    /** How many missing ids a report lists before "...". */
    static final int MISSING_SHOWN = 20;

    /** Right answers among instances; {@code missing} of them had no prediction. */
    public record Tally(int correct, int total, int missing) {
        public double accuracy() {
            return total == 0 ? 0 : (double) correct / total;
        }

        Tally plus(boolean right, boolean absent) {
            return new Tally(correct + (right ? 1 : 0), total + 1, missing + (absent ? 1 : 0));
        }
    }

    /** One model's results: overall, per category (in first-seen order), and the ids it did not answer. */
    public record Result(String model, String predictions, String matchedBy, Tally overall, Map<String, Tally> categories,
                         List<String> missingIds) {}

    private ExactEval() {}

    public static boolean isExact(String prediction, List<String> references) {
        if (prediction == null) return false;
        String p = prediction.strip();
        return references.stream().anyMatch(r -> r.strip().equals(p));
    }

    public static Result score(String model, String predictionsFile, Aligned aligned) {
        Tally overall = new Tally(0, 0, 0);
        Map<String, Tally> categories = new LinkedHashMap<>();
        List<String> missing = new ArrayList<>();
        for (Instance i : aligned.instances()) {
            boolean right = isExact(i.prediction(), i.references()), absent = i.prediction() == null;
            overall = overall.plus(right, absent);
            categories.merge(i.category(), new Tally(0, 0, 0).plus(right, absent),
                    (a, b) -> new Tally(a.correct() + b.correct(), a.total() + b.total(), a.missing() + b.missing()));
            if (absent) missing.add(i.id());
        }
        return new Result(model, predictionsFile, aligned.matchedBy(), overall, categories, missing);
    }

    /** Every category of {@code results}, sorted. */
    static List<String> categories(List<Result> results) {
        Set<String> out = new TreeSet<>();
        for (Result r : results) out.addAll(r.categories().keySet());
        return List.copyOf(out);
    }

    public static ObjectNode toJson(String referencesFile, List<Result> results) {
        ObjectNode json = ReportFiles.JSON.createObjectNode();
        json.put("metric", "exact match: the prediction equals a reference after trimming surrounding whitespace, case-sensitive");
        json.put("references", referencesFile);
        ArrayNode models = json.putArray("models");
        for (Result r : results) {
            ObjectNode m = models.addObject();
            m.put("model", r.model()).put("predictions", r.predictions()).put("matched_by", r.matchedBy());
            put(m, r.overall());
            ObjectNode cats = m.putObject("categories");
            r.categories().forEach((k, t) -> put(cats.putObject(k), t));
            ArrayNode ids = m.putArray("missing_ids");
            r.missingIds().forEach(ids::add);
        }
        return json;
    }

    private static void put(ObjectNode o, Tally t) {
        o.put("correct", t.correct()).put("total", t.total()).put("accuracy", t.accuracy()).put("missing", t.missing());
    }

    /** Accuracy per category and overall, one bar per model. */
    public static CategoryChart chart(List<Result> results) {
        CategoryChart chart = new CategoryChartBuilder().width(900).height(500)
                .title("Exact-match accuracy by category").xAxisTitle("category").yAxisTitle("exact match").build();
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setYAxisMax(1.0);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setYAxisDecimalPattern("0.00");
        List<String> xs = new ArrayList<>(categories(results));
        xs.add(ALL);
        for (Result r : results) {
            List<Double> ys = new ArrayList<>();
            for (String c : xs) ys.add(c.equals(ALL) ? r.overall().accuracy() : r.categories().getOrDefault(c, new Tally(0, 0, 0)).accuracy());
            chart.addSeries(r.model(), xs, ys);
        }
        return chart;
    }

    public static String markdown(String referencesFile, List<Result> results) {
        StringBuilder sb = new StringBuilder("# Exact match\n\n");
        sb.append("A prediction is right when it equals the reference after trimming surrounding whitespace (case-sensitive);")
                .append(" a reference without a prediction counts as wrong. References: ").append(referencesFile).append(".\n\n");
        sb.append("| Category | Model | Correct | Total | Missing | Accuracy |\n|---|---|---:|---:|---:|---:|\n");
        List<String> cats = new ArrayList<>(categories(results));
        cats.add(ALL);
        for (String c : cats) {
            for (Result r : results) {
                Tally t = c.equals(ALL) ? r.overall() : r.categories().get(c);
                if (t == null) continue;
                sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %.4f |%n", cell(c), cell(r.model()),
                        t.correct(), t.total(), t.missing(), t.accuracy()));
            }
        }
        for (Result r : results) {
            if (r.missingIds().isEmpty()) continue;
            List<String> shown = r.missingIds().subList(0, Math.min(MISSING_SHOWN, r.missingIds().size()));
            sb.append("\n").append(r.model()).append(" has no prediction for ").append(r.missingIds().size())
                    .append(r.missingIds().size() == 1 ? " reference" : " references").append(" (ids ").append(String.join(", ", shown))
                    .append(r.missingIds().size() > shown.size() ? ", ..." : "").append(").\n");
        }
        return sb.toString();
    }

    private static String cell(String s) {
        return s.replace("|", "\\|");
    }
}
