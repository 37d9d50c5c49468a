package org.gpt4llm.eval.judge;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.gpt4llm.eval.report.ReportFiles;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;

/**
 * The judge's report: {@code NAME.json} (every summary with its label), {@code NAME.png} (relative
 * score of each against the reference, the paper's Fig. 4/5 bars, each labelled "model : reference"
 * totals) and {@code NAME.md}.
 */
public final class JudgeReport {
    private JudgeReport() {}

    /** A summary under the name it is shown with (the model, or "top-3"). */
    public record Entry(String label, JudgeSummary summary) {}

    public static void write(Path dir, String name, String title, List<Entry> entries) throws IOException {
        ObjectNode json = JudgeJob.JSON.createObjectNode();
        json.put("title", title);
        ArrayNode list = json.putArray("results");
        for (Entry e : entries) list.add(e.summary().toJson().put("label", e.label()));
        ReportFiles.writeJson(dir.resolve(name + ".json"), json);

        String reference = entries.isEmpty() ? "" : entries.getFirst().summary().reference();
        // pairwise verdicts have no scores to divide: their bars are win rates (a tie counts ½)
        boolean pairwise = !entries.isEmpty() && entries.getFirst().summary().mode().equals("pairwise");
        List<String> labels = new ArrayList<>();
        List<Double> values = new ArrayList<>();
        for (Entry e : entries) {
            JudgeSummary.Stats s = e.summary().overall();
            labels.add(String.format(Locale.ROOT, "%s (%s : %s)", e.label(), num(s.modelTotal()), num(s.referenceTotal())));
            values.add(pairwise ? (s.questions() == 0 ? 0 : 100 * s.modelTotal() / s.questions()) : Double.isNaN(s.relativeScore()) ? 0 : s.relativeScore());
        }
        CategoryChart chart = new CategoryChartBuilder().width(Math.max(700, 260 * entries.size())).height(480).title(title)
                .xAxisTitle("").yAxisTitle((pairwise ? "win rate vs " : "relative score vs ") + reference + " (%)").build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setDecimalPattern("0.0");
        chart.getStyler().setYAxisMin(0.0);
        // 100% is the reference's own score: keep it on the axis, as the paper's bars do
        chart.getStyler().setYAxisMax(Math.max(100, values.stream().mapToDouble(Double::doubleValue).max().orElse(100)) * 1.05);
        chart.getStyler().setXAxisLabelRotation(entries.size() > 3 ? 30 : 0);
        if (!labels.isEmpty()) chart.addSeries("relative score", labels, values);
        ReportFiles.writePng(dir.resolve(name + ".png"), chart);

        StringBuilder md = new StringBuilder("# " + title + "\n\n");
        md.append("| | mode | relative score | model : reference | win / tie / loss | questions | unparseable | order disagreements |\n");
        md.append("|---|---|---|---|---|---|---|---|\n");
        for (Entry e : entries) {
            JudgeSummary.Stats s = e.summary().overall();
            md.append(String.format(Locale.ROOT, "| %s vs %s | %s | %s | %s : %s | %d / %d / %d | %d | %d of %d | %d |%n", e.label(),
                    e.summary().reference(), e.summary().mode(), Double.isNaN(s.relativeScore()) ? "—" : String.format(Locale.ROOT, "%.1f%%", s.relativeScore()),
                    num(s.modelTotal()), num(s.referenceTotal()), s.wins(), s.ties(), s.losses(), s.questions(), s.unparseable(), s.reviews(),
                    s.disagreements()));
        }
        for (Entry e : entries) {
            md.append("\n## ").append(e.label()).append(" by category\n\n| category | relative score | model : reference | win / tie / loss | unparseable |\n|---|---|---|---|---|\n");
            e.summary().perCategory().forEach((cat, s) -> md.append(String.format(Locale.ROOT, "| %s | %s | %s : %s | %d / %d / %d | %d |%n", cat,
                    Double.isNaN(s.relativeScore()) ? "—" : String.format(Locale.ROOT, "%.1f%%", s.relativeScore()), num(s.modelTotal()),
                    num(s.referenceTotal()), s.wins(), s.ties(), s.losses(), s.unparseable())));
        }
        md.append("\n![").append(title).append("](").append(name).append(".png)\n");
        ReportFiles.writeText(dir.resolve(name + ".md"), md.toString());
    }

    private static String num(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%.2f", v).replaceAll("0$", "");
    }
}
