package org.gpt4llm.eval.rouge;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.gpt4llm.datagen.text.Rouge;
import org.gpt4llm.eval.report.ReportFiles;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * The paper's ROUGE evaluation (its Fig. 6): ROUGE-1/2/L F-measure of each prediction against its
 * reference(s) (the best reference per measure), averaged over instances, per bucket of ground-truth
 * length. The length of an instance is the word count of its first reference.
 */
public final class RougeEval {
    /** One prediction and the reference(s) it is scored against. */
    public record Instance(String id, String prediction, List<String> references) {}

    /** One instance's scores. */
    public record Scored(Instance instance, int referenceWords, Bucket bucket, Rouge.Scores scores) {}

    /** One row of the paper's result files: mean F-measures of a model over a bucket. */
    public record Row(String length, int numInstance, String model, double rouge1, double rouge2, double rougeL) {
        public ObjectNode toJson() {
            ObjectNode o = ReportFiles.JSON.createObjectNode();
            o.put("Length", length);
            o.put("NumInstance", numInstance);
            o.put("Model", model);
            o.put("rouge1", rouge1);
            o.put("rouge2", rouge2);
            o.put("rougeL", rougeL);
            return o;
        }

        public static Row fromJson(JsonNode o, String where) {
            for (String f : new String[] {"Length", "NumInstance", "Model", "rouge1", "rouge2", "rougeL"}) {
                if (!o.hasNonNull(f)) throw new IllegalArgumentException(where + " has no \"" + f + "\"");
            }
            if (!o.get("NumInstance").canConvertToInt() || !o.get("rouge1").isNumber() || !o.get("rouge2").isNumber() || !o.get("rougeL").isNumber()) {
                throw new IllegalArgumentException(where + ": NumInstance, rouge1, rouge2 and rougeL must be numbers");
            }
            return new Row(o.get("Length").asText(), o.get("NumInstance").asInt(), o.get("Model").asText(),
                    o.get("rouge1").asDouble(), o.get("rouge2").asDouble(), o.get("rougeL").asDouble());
        }
    }

    /**
     * Ground-truth length buckets with the paper's labels (its 6-10 bucket is labelled "5-10" in its
     * files, though it starts at 6: the four buckets add up to its ALL count) and file suffixes.
     */
    public enum Bucket {
        LEN_0_2("0-2", "0-2", "0-2", 0, 2),
        LEN_3_5("3-5", "3-5", "3-5", 3, 5),
        LEN_6_10("5-10", "6-10", "6-10", 6, 10),
        LEN_OVER_10("10-", "10-", ">10", 11, Integer.MAX_VALUE),
        ALL("ALL", "ALL", "ALL", 0, Integer.MAX_VALUE);

        /** label: in the result files; display: in the chart and table. */
        public final String label, fileSuffix, display;
        final int min, max;

        Bucket(String label, String fileSuffix, String display, int min, int max) {
            this.label = label;
            this.fileSuffix = fileSuffix;
            this.display = display;
            this.min = min;
            this.max = max;
        }

        /** The bucket (other than ALL) of a reference of this many words. */
        public static Bucket of(int words) {
            for (Bucket b : values()) if (b != ALL && words >= b.min && words <= b.max) return b;
            throw new IllegalArgumentException("negative length " + words);
        }

        /** The display name of a result-file label; an unknown label as it is. */
        public static String display(String label) {
            for (Bucket b : values()) if (b.label.equals(label)) return b.display;
            return label;
        }

        boolean holds(Bucket instanceBucket) {
            return this == ALL || this == instanceBucket;
        }
    }

    /** How the words of a reference are counted for its bucket. */
    public enum LengthWords {
        /** Runs of non-whitespace, as Python's {@code str.split()}. */
        WHITESPACE,
        /** rouge-score's tokens (no stemming): punctuation and non-Latin letters do not count. */
        TOKENS;

        public int count(String text) {
            if (this == TOKENS) return Rouge.tokens(text).size();
            String t = text.strip();
            return t.isEmpty() ? 0 : t.split("\\s+").length;
        }
    }

    private RougeEval() {}

    public static List<Scored> score(List<Instance> instances, boolean stem, LengthWords lengthWords) {
        List<Scored> out = new ArrayList<>(instances.size());
        for (Instance in : instances) {
            int words = lengthWords.count(in.references().get(0));
            out.add(new Scored(in, words, Bucket.of(words), Rouge.scoreMulti(in.references(), in.prediction(), stem)));
        }
        return out;
    }

    /** One row per bucket (all five, ALL last); an empty bucket has NumInstance 0 and scores 0. */
    public static List<Row> rows(String model, List<Scored> scored) {
        List<Row> rows = new ArrayList<>();
        for (Bucket b : Bucket.values()) {
            int n = 0;
            double r1 = 0, r2 = 0, rl = 0;
            for (Scored s : scored) {
                if (!b.holds(s.bucket())) continue;
                n++;
                r1 += s.scores().rouge1().fmeasure();
                r2 += s.scores().rouge2().fmeasure();
                rl += s.scores().rougeL().fmeasure();
            }
            rows.add(n == 0 ? new Row(b.label, 0, model, 0, 0, 0) : new Row(b.label, n, model, r1 / n, r2 / n, rl / n));
        }
        return rows;
    }

    public static ArrayNode toJson(List<Row> rows) {
        ArrayNode a = ReportFiles.JSON.createArrayNode();
        for (Row r : rows) a.add(r.toJson());
        return a;
    }

    /** Python's {@code json.dump(rows, f, indent=2)}, as the paper's files are written. */
    private static final DefaultPrettyPrinter PYTHON_INDENT_2 = new DefaultPrettyPrinter()
            .withObjectIndenter(new DefaultIndenter("  ", "\n"))
            .withArrayIndenter(new DefaultIndenter("  ", "\n"))
            .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));

    /** The rows as the paper's result files have them, byte for byte (two-space indent, "key": value). */
    public static String toPaperText(List<Row> rows) {
        try {
            return ReportFiles.JSON.writer(PYTHON_INDENT_2).writeValueAsString(toJson(rows));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a tree of strings and numbers always serializes", e);
        }
    }

    public static List<Row> fromJson(JsonNode array, String where) {
        if (!array.isArray()) throw new IllegalArgumentException(where + " is not a JSON array of result rows");
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) rows.add(Row.fromJson(array.get(i), where + ": row " + i));
        return rows;
    }

    /** One JSON object a line per instance and model, for looking at single answers. */
    public static String perInstanceJsonl(String model, List<Scored> scored) {
        StringBuilder sb = new StringBuilder();
        for (Scored s : scored) {
            ObjectNode o = ReportFiles.JSON.createObjectNode();
            o.put("id", s.instance().id());
            o.put("Model", model);
            o.put("ReferenceWords", s.referenceWords());
            o.put("Length", s.bucket().label);
            o.put("rouge1", s.scores().rouge1().fmeasure());
            o.put("rouge2", s.scores().rouge2().fmeasure());
            o.put("rougeL", s.scores().rougeL().fmeasure());
            sb.append(o.toString()).append('\n');
        }
        return sb.toString();
    }

    /** The paper's Fig. 6: ROUGE-L per length bucket, one bar per model. */
    public static CategoryChart chart(List<Row> rows) {
        CategoryChart chart = new CategoryChartBuilder().width(900).height(500)
                .title("ROUGE-L by ground-truth length").xAxisTitle("ground-truth length (words)").yAxisTitle("ROUGE-L").build();
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setYAxisDecimalPattern("0.00");
        List<String> xs = new ArrayList<>();
        for (Bucket b : Bucket.values()) xs.add(b.display);
        for (Map.Entry<String, Map<String, Double>> model : byModel(rows).entrySet()) {
            List<Double> ys = new ArrayList<>();
            for (Bucket b : Bucket.values()) ys.add(model.getValue().getOrDefault(b.label, 0.0));
            chart.addSeries(model.getKey(), xs, ys);
        }
        return chart;
    }

    private static Map<String, Map<String, Double>> byModel(List<Row> rows) {
        Map<String, Map<String, Double>> out = new LinkedHashMap<>();
        for (Row r : rows) out.computeIfAbsent(r.model(), m -> new LinkedHashMap<>()).put(r.length(), r.rougeL());
        return out;
    }

    public static String markdown(List<Row> rows, boolean stem, LengthWords lengthWords) {
        StringBuilder sb = new StringBuilder("# ROUGE by ground-truth length\n\n");
        sb.append("F-measures as rouge-score computes them, Porter stemming ").append(stem ? "on" : "off")
                .append("; length = words of the reference (").append(lengthWords == LengthWords.WHITESPACE ? "whitespace-separated" : "ROUGE tokens")
                .append("); mean over instances; with several references, the best one for each measure. ")
                .append("Rows marked (paper) are the paper's published numbers.\n\n");
        sb.append("| Length | Model | Instances | ROUGE-1 | ROUGE-2 | ROUGE-L |\n|---|---|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %.4f | %.4f | %.4f |%n",
                    Bucket.display(r.length()), r.model().replace("|", "\\|"), r.numInstance(), r.rouge1(), r.rouge2(), r.rougeL()));
        }
        return sb.toString();
    }
}
