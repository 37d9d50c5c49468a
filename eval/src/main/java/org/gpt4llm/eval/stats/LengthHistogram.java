package org.gpt4llm.eval.stats;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.eval.report.ReportFiles;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * Output lengths in words (whitespace-separated) binned over [0, max) in equal bins, one series per
 * data set, as the paper's Fig. 1d compares GPT-4's and GPT-3's answers. Lengths of {@code max} or
 * more are counted apart ({@code above}), never folded into the last bin.
 */
public final class LengthHistogram {
    /** One data set's counts: {@code counts[b]} texts with length in {@code [b*width, (b+1)*width)}. */
    public record Series(String name, long[] counts, long above, long texts, double meanWords) {}

    private LengthHistogram() {}

    public static int words(String text) {
        String s = text.strip();
        return s.isEmpty() ? 0 : s.split("\\s+").length;
    }

    public static Series bin(String name, List<String> texts, int width, int max) {
        if (width < 1 || max < width || max % width != 0) {
            throw new IllegalArgumentException("bin width must divide the maximum length: width " + width + ", max " + max);
        }
        long[] counts = new long[max / width];
        long above = 0;
        long total = 0;
        for (String t : texts) {
            int n = words(t);
            total += n;
            if (n >= max) above++;
            else counts[n / width]++;
        }
        return new Series(name, counts, above, texts.size(), texts.isEmpty() ? 0 : (double) total / texts.size());
    }

    public static ObjectNode toJson(List<Series> series, int width, int max) {
        ObjectNode o = ReportFiles.JSON.createObjectNode();
        o.put("unit", "words").put("bin_width", width).put("max", max);
        ArrayNode arr = o.putArray("series");
        for (Series s : series) {
            ObjectNode n = arr.addObject().put("name", s.name()).put("texts", s.texts()).put("mean_words", s.meanWords())
                    .put("at_or_above_max", s.above());
            ArrayNode c = n.putArray("counts");
            for (long v : s.counts()) c.add(v);
        }
        return o;
    }

    /**
     * Counts per bin (at the bin's middle) on a log axis, one line per data set; empty bins are left
     * out, as a log axis has no zero (XChart's category bars cannot skip them).
     */
    public static XYChart chart(List<Series> series, int width, int max) {
        XYChart chart = new XYChartBuilder().width(1100).height(500).title("Output length (words)")
                .xAxisTitle("words").yAxisTitle("frequency").build();
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setXAxisMin(0.0);
        chart.getStyler().setXAxisMax((double) max);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        for (Series s : series) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (int b = 0; b < s.counts().length; b++) {
                if (s.counts()[b] == 0) continue;
                xs.add(b * width + width / 2.0);
                ys.add((double) s.counts()[b]);
            }
            if (!xs.isEmpty()) chart.addSeries(s.name(), xs, ys);
        }
        if (chart.getSeriesMap().isEmpty()) { // XChart cannot draw a chart without data, nor a zero on a log axis
            chart.getStyler().setYAxisLogarithmic(false);
            chart.addSeries("no texts below " + max + " words", List.of(0.0), List.of(0.0));
        }
        return chart;
    }

    public static String markdown(List<Series> series, int width, int max) {
        StringBuilder md = new StringBuilder("# Output lengths\n\nWords per output, bins of " + width + " over 0-" + max + ".\n\n");
        md.append("| data | texts | mean words | at or above ").append(max).append(" |\n|---|---:|---:|---:|\n");
        for (Series s : series) {
            md.append(String.format("| %s | %d | %.1f | %d |%n", s.name(), s.texts(), s.meanWords(), s.above()));
        }
        return md.append("\n![lengths](lengths.png)\n").toString();
    }

    /** {@code lengths.json}, {@code .png}, {@code .md} in {@code dir}. */
    public static void write(Path dir, List<Series> series, int width, int max) throws IOException {
        ReportFiles.writeJson(dir.resolve("lengths.json"), toJson(series, width, max));
        ReportFiles.writePng(dir.resolve("lengths.png"), chart(series, width, max));
        ReportFiles.writeText(dir.resolve("lengths.md"), markdown(series, width, max));
    }
}
