package org.gpt4llm.eval.stats;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.eval.report.ReportFiles;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * The distribution of GPT-4's 1-10 ratings per answering model (the paper's Fig. 2), from
 * {@code {model: [score, ...]}}. Counts are kept per exact score: the released data also holds
 * 0 (unparsed ratings) and half points such as 7.5, which a 1..10 integer histogram would hide.
 */
public final class ScoreDistribution {
    /** One model's scores: count per distinct value (ascending), how many, and their mean. */
    public record Model(String name, TreeMap<BigDecimal, Long> counts, long n, double mean) {}

    private ScoreDistribution() {}

    public static List<Model> read(Path file) throws IOException {
        JsonNode root;
        try {
            root = ReportFiles.JSON.readTree(TextFiles.read(file));
        } catch (JacksonException e) {
            throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject() || root.isEmpty()) {
            throw new IllegalArgumentException(file + " is not a JSON object of {model: [score, ...]}");
        }
        List<Model> models = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode arr = e.getValue();
            if (!arr.isArray()) throw new IllegalArgumentException(file + ": \"" + e.getKey() + "\" is not a list of scores");
            double[] scores = new double[arr.size()];
            for (int i = 0; i < arr.size(); i++) {
                JsonNode v = arr.get(i);
                if (!v.isNumber() || !(v.asDouble() >= 0 && v.asDouble() <= 10)) {
                    throw new IllegalArgumentException(file + ": " + e.getKey() + "[" + i + "] is " + v + ", not a score in 0..10");
                }
                scores[i] = v.asDouble();
            }
            models.add(of(e.getKey(), scores));
        }
        return models;
    }

    public static Model of(String name, double[] scores) {
        TreeMap<BigDecimal, Long> counts = new TreeMap<>();
        double sum = 0;
        for (double s : scores) {
            counts.merge(BigDecimal.valueOf(s).stripTrailingZeros(), 1L, Long::sum);
            sum += s;
        }
        return new Model(name, counts, scores.length, scores.length == 0 ? Double.NaN : sum / scores.length);
    }

    public static ObjectNode toJson(Path source, List<Model> models) {
        ObjectNode o = ReportFiles.JSON.createObjectNode();
        o.put("source", source.toString());
        ObjectNode ms = o.putObject("models");
        for (Model m : models) {
            ObjectNode n = ms.putObject(m.name()).put("n", m.n()).put("mean", m.mean());
            ObjectNode c = n.putObject("counts");
            m.counts().forEach((score, count) -> c.put(score.toPlainString(), count));
        }
        return o;
    }

    /** Share of each model's scores per score value (models differ in size), bars side by side. */
    public static CategoryChart chart(List<Model> models) {
        CategoryChart chart = new CategoryChartBuilder().width(1000).height(500).title("GPT-4 scores of the answers")
                .xAxisTitle("score").yAxisTitle("fraction of answers").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        TreeSet<BigDecimal> values = new TreeSet<>();
        for (Model m : models) values.addAll(m.counts().keySet());
        List<String> labels = values.stream().map(BigDecimal::toPlainString).toList();
        for (Model m : models) {
            if (m.n() == 0) continue;
            List<Double> ys = values.stream().map(v -> (double) m.counts().getOrDefault(v, 0L) / m.n()).toList();
            chart.addSeries(String.format("%s (mean %.2f)", m.name(), m.mean()), labels, ys);
        }
        if (chart.getSeriesMap().isEmpty()) chart.addSeries("no scores", List.of("(none)"), List.of(0)); // XChart needs data
        return chart;
    }

    /** Model name → mean, in file order. */
    public static Map<String, Double> means(List<Model> models) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Model m : models) out.put(m.name(), m.mean());
        return out;
    }

    public static String markdown(Path source, List<Model> models) {
        StringBuilder md = new StringBuilder("# Score distribution\n\nSource: `" + source + "`.\n\n| model | answers | mean |\n|---|---:|---:|\n");
        for (Model m : models) md.append(String.format("| %s | %d | %.4f |%n", m.name(), m.n(), m.mean()));
        return md.append("\n![scores](scores.png)\n").toString();
    }

    /** {@code scores.json}, {@code .png}, {@code .md} in {@code dir}. */
    public static void write(Path dir, Path source, List<Model> models) throws IOException {
        ReportFiles.writeJson(dir.resolve("scores.json"), toJson(source, models));
        ReportFiles.writePng(dir.resolve("scores.png"), chart(models));
        ReportFiles.writeText(dir.resolve("scores.md"), markdown(source, models));
    }
}
