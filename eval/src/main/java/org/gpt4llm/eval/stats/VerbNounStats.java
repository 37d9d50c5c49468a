package org.gpt4llm.eval.stats;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.eval.stats.VerbNounExtractor.VerbNoun;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * Verb–noun statistics of a data set's instructions or outputs (the paper's Fig. 1a/b, Self-Instruct's
 * Fig. 2): how many texts have a verb, how many a verb with an object noun, the unique verbs and
 * pairs, and the most frequent of each. Ties are broken alphabetically so reports are reproducible.
 */
public record VerbNounStats(int texts, int withVerb, int withPair, Map<String, Integer> verbCounts,
        Map<String, Integer> pairCounts) {

    /** A counted key, most frequent first. */
    public record Count(String key, int count) {}

    public static VerbNounStats of(List<String> texts, VerbNounExtractor extractor) {
        Map<String, Integer> verbs = new LinkedHashMap<>();
        Map<String, Integer> pairs = new LinkedHashMap<>();
        int withVerb = 0;
        int withPair = 0;
        for (String text : texts) {
            VerbNoun vn = extractor.extract(text);
            if (vn.verb() == null) continue;
            withVerb++;
            verbs.merge(vn.verb(), 1, Integer::sum);
            if (vn.hasPair()) {
                withPair++;
                pairs.merge(pairKey(vn), 1, Integer::sum);
            }
        }
        return new VerbNounStats(texts.size(), withVerb, withPair, verbs, pairs);
    }

    static String pairKey(VerbNoun vn) {
        return vn.verb() + " " + vn.noun();
    }

    public List<Count> topVerbs(int k) {
        return top(verbCounts, k);
    }

    public List<Count> topPairs(int k) {
        return top(pairCounts, k);
    }

    private static List<Count> top(Map<String, Integer> counts, int k) {
        List<Count> all = new ArrayList<>();
        counts.forEach((key, n) -> all.add(new Count(key, n)));
        all.sort(Comparator.comparingInt(Count::count).reversed().thenComparing(Count::key));
        return all.subList(0, Math.min(k, all.size()));
    }

    public ObjectNode toJson(String source, String field, int top) {
        ObjectNode o = ReportFiles.JSON.createObjectNode();
        o.put("source", source).put("field", field).put("texts", texts).put("with_verb", withVerb)
                .put("with_verb_noun", withPair).put("unique_verbs", verbCounts.size())
                .put("unique_verb_noun_pairs", pairCounts.size());
        o.put("method", "first VERB of the first sentence and the head noun of the noun phrase right after it"
                + " (OpenNLP UD-EWT POS tags and lemmas; no dependency parser)");
        ArrayNode verbs = o.putArray("top_verbs");
        for (Count c : topVerbs(top)) verbs.addObject().put("verb", c.key()).put("count", c.count());
        ArrayNode pairs = o.putArray("top_pairs");
        for (Count c : topPairs(top)) {
            String[] vn = c.key().split(" ", 2);
            pairs.addObject().put("verb", vn[0]).put("noun", vn[1]).put("count", c.count());
        }
        return o;
    }

    /** The top pairs as a bar chart (a flat stand-in for the paper's sunburst). */
    public CategoryChart chart(String title, int top) {
        List<Count> pairs = topPairs(top);
        CategoryChart chart = new CategoryChartBuilder().width(1100).height(600).title(title)
                .xAxisTitle("verb noun").yAxisTitle("count").build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setXAxisLabelRotation(60);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        if (pairs.isEmpty()) { // XChart cannot draw a chart without data
            chart.addSeries("pairs", List.of("(no pairs)"), List.of(0));
            return chart;
        }
        chart.addSeries("pairs", pairs.stream().map(Count::key).toList(), pairs.stream().map(Count::count).toList());
        return chart;
    }

    public String markdown(String source, String field, int top) {
        StringBuilder md = new StringBuilder("# Verb-noun pairs of " + field + "s\n\n");
        md.append("Source: `").append(source).append("`, ").append(texts).append(" texts; ")
                .append(withVerb).append(" with a verb, ").append(withPair).append(" with a verb and its object noun; ")
                .append(verbCounts.size()).append(" unique verbs, ").append(pairCounts.size()).append(" unique pairs.\n\n")
                .append("Root verb approximated as the first verb of the first sentence, its object as the head noun of the noun"
                        + " phrase right after it (OpenNLP POS tags and lemmas; OpenNLP has no dependency parser).\n\n")
                .append("| verb | noun | count |\n|---|---|---:|\n");
        for (Count c : topPairs(top)) {
            String[] vn = c.key().split(" ", 2);
            md.append("| ").append(vn[0]).append(" | ").append(vn[1]).append(" | ").append(c.count()).append(" |\n");
        }
        md.append("\n![top pairs](").append(field).append("_verbs.png)\n");
        return md.toString();
    }

    /** {@code <field>_verbs.json}, {@code .png} and {@code .md} in {@code dir}. */
    public void write(Path dir, String source, String field, int top) throws IOException {
        ReportFiles.writeJson(dir.resolve(field + "_verbs.json"), toJson(source, field, top));
        ReportFiles.writePng(dir.resolve(field + "_verbs.png"), chart("Top " + top + " verb-noun pairs of " + field + "s", top));
        ReportFiles.writeText(dir.resolve(field + "_verbs.md"), markdown(source, field, top));
    }
}
