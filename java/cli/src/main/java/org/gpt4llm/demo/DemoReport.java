package org.gpt4llm.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.eval.report.Html;
import org.gpt4llm.io.AtomicFiles;

/**
 * The demo's one HTML page, {@code report.html} in the output folder: what the teacher is, the data,
 * every command with its time, the training curves, the reward model's accuracy, exact match and
 * ROUGE-L of every model per category, best-of-n against greedy, rejection sampling, and sample answers; first of all,
 * the strong teacher's student against a weaker teacher's. Every number is
 * read back from the files the stages wrote (markers, metrics.jsonl, eval/ results, answer files);
 * images are linked by paths relative to the page.
 */
public final class DemoReport {
    private final DemoPipeline pipe;
    private final Path out;

    DemoReport(DemoPipeline pipe) {
        this.pipe = pipe;
        this.out = pipe.options().out();
    }

    /** Exact-match accuracy per model: overall ({@code "ALL"}) and per category, as eval exact wrote them. */
    public record Exact(Map<String, Map<String, Double>> byModel, Map<String, Integer> counts) {
        public double overall(String model) {
            Map<String, Double> m = byModel.get(model);
            return m == null ? Double.NaN : m.getOrDefault("ALL", Double.NaN);
        }
    }

    /** eval exact's JSON, read back. */
    Exact exact() throws IOException {
        return readExact(out.resolve("eval/exact/exact.json"));
    }

    static Exact readExact(Path file) throws IOException {
        JsonNode root = DemoPipeline.JSON.readTree(file.toFile());
        Map<String, Map<String, Double>> by = new LinkedHashMap<>();
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (JsonNode m : root.path("models")) {
            Map<String, Double> acc = new LinkedHashMap<>();
            acc.put("ALL", m.path("accuracy").asDouble());
            counts.putIfAbsent("ALL", m.path("total").asInt());
            for (var e : m.path("categories").properties()) {
                acc.put(e.getKey(), e.getValue().path("accuracy").asDouble());
                counts.putIfAbsent(e.getKey(), e.getValue().path("total").asInt());
            }
            by.put(m.path("model").asText(), acc);
        }
        if (by.isEmpty()) throw new IOException(file + " holds no model's exact-match results");
        return new Exact(by, counts);
    }

    /** Mean ROUGE-L F per model over all held-out tasks, from eval rouge's {@code rouge_lenALL.json}. */
    Map<String, Double> rougeAll() throws IOException {
        Map<String, Double> m = new LinkedHashMap<>();
        for (JsonNode r : DemoPipeline.JSON.readTree(out.resolve("eval/rouge/rouge_lenALL.json").toFile())) {
            m.put(r.path("Model").asText(), r.path("rougeL").asDouble());
        }
        return m;
    }

    /** Mean ROUGE-L F per model and category, from eval rouge's per-instance scores and the held-out categories. */
    Map<String, Map<String, Double>> rougeByCategory() throws IOException {
        Map<String, String> categories = new LinkedHashMap<>();
        JsonNode tasks = DemoPipeline.JSON.readTree(out.resolve("data/heldout.json").toFile());
        for (int i = 0; i < tasks.size(); i++) categories.put(taskId(tasks.get(i), i), tasks.get(i).path("category").asText());
        Map<String, Map<String, double[]>> sums = new LinkedHashMap<>();
        for (JsonNode r : jsonLines(out.resolve("eval/rouge/per-instance.jsonl"))) {
            String cat = categories.getOrDefault(r.path("id").asText(), "?");
            double[] s = sums.computeIfAbsent(r.path("Model").asText(), k -> new TreeMap<>()).computeIfAbsent(cat, k -> new double[2]);
            s[0] += r.path("rougeL").asDouble();
            s[1]++;
        }
        Map<String, Map<String, Double>> m = new LinkedHashMap<>();
        sums.forEach((model, cats) -> {
            Map<String, Double> c = new LinkedHashMap<>();
            cats.forEach((k, s) -> c.put(k, s[0] / s[1]));
            m.put(model, c);
        });
        return m;
    }

    /** The reward model's held-out pairwise accuracy before training (step 0) and after its last step. */
    double[] rewardAccuracy() throws IOException {
        return firstAndLast(jsonLines(out.resolve("runs/rm/metrics.jsonl")), "eval_accuracy");
    }

    /** The first and the last value of {@code key} in a run's metrics lines (NaN when no line has it). */
    private static double[] firstAndLast(List<JsonNode> metrics, String key) {
        double first = Double.NaN, last = Double.NaN;
        for (JsonNode m : metrics) {
            if (!m.has(key)) continue;
            if (Double.isNaN(first)) first = m.get(key).asDouble();
            last = m.get(key).asDouble();
        }
        return new double[] {first, last};
    }

    /** The records of a JSON Lines file a stage wrote, blank lines skipped. */
    private static List<JsonNode> jsonLines(Path file) throws IOException {
        List<JsonNode> records = new ArrayList<>();
        for (JsonRecords.Located r : JsonRecords.read(file)) records.add(r.node());
        return records;
    }

    /** One sentence for the console: exact match before and after tuning. */
    String summaryLine() throws IOException {
        Exact e = exact();
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "held-out exact match (%d tasks):", e.counts().getOrDefault("ALL", 0)));
        for (String[] m : pipe.evaluated().subList(0, 4)) b.append(String.format(Locale.ROOT, " %s %.1f%%", m[0], 100 * e.overall(m[0])));
        double[] ra = rewardAccuracy();
        b.append(String.format(Locale.ROOT, "; reward accuracy %.1f%% -> %.1f%%", 100 * ra[0], 100 * ra[1]));
        return b.toString();
    }

    /** Writes report.html atomically; {@code reportSeconds} is this stage's time so far. */
    Path write(double reportSeconds) throws IOException {
        Path file = pipe.report();
        String html = html(reportSeconds);
        AtomicFiles.write(file, html.getBytes(StandardCharsets.UTF_8));
        return file;
    }

    private String html(double reportSeconds) throws IOException {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gpt4llm demo report</title>\n<style>")
                .append("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}")
                .append("table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}")
                .append("th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}code,pre{background:#f6f6f6}")
                .append("pre{padding:4px;white-space:pre-wrap;margin:0}.note{background:#fff6d5;border:1px solid #e0c060;padding:.6em 1em}")
                .append("img{width:540px;max-width:100%;border:1px solid #ddd;margin:4px 4px 4px 0;vertical-align:top}")
                .append("</style></head><body>\n<h1>gpt4llm demo report</h1>\n");
        teacherSection(h);
        Exact exact = exact();
        Map<String, Double> rouge = rougeAll();
        double[] ra = rewardAccuracy();
        teacherComparisonSection(h, exact);
        headline(h, exact, rouge, ra);
        dataSection(h);
        commandsSection(h, reportSeconds);
        trainingSection(h);
        rewardSection(h, ra);
        evalSection(h, exact, rouge);
        bestOfSection(h, exact, rouge);
        dpoSection(h, exact, rouge);
        rejectionSamplingSection(h, exact, rouge);
        samplesSection(h);
        h.append("</body></html>\n");
        return h.toString();
    }

    private void teacherSection(StringBuilder h) throws IOException {
        Path note = pipe.markerDir().resolve("teacher.json");
        DemoPipeline.Options o = pipe.options();
        if (o.teacherUrl() == null) {
            String cmd = Files.isRegularFile(note) ? DemoPipeline.JSON.readTree(note.toFile()).path("command").asText() : "gpt4llm demo teacher";
            h.append("<p class=\"note\"><b>The teacher here is the built-in DEMO teacher, not GPT-4.</b> It is a rule-based program")
                    .append(" (model name <code>").append(Html.escape(pipe.teacherModel())).append("</code>) that solves a family of small tasks with")
                    .append(" checkable answers (reversing, counting, sorting, ... the categories below) and rates answers by checking them;")
                    .append(" it is served over the same OpenAI-compatible chat API a real teacher has (<code>").append(Html.escape(cmd))
                    .append("</code>, started inside this run). Because every answer can be checked, the evaluation can use exact match.")
                    .append(" <code>gpt4llm demo --teacher URL --model NAME</code> uses a real teacher instead.</p>\n");
        } else {
            h.append("<p class=\"note\">Teacher: <code>").append(Html.escape(pipe.teacherModel())).append("</code> at <code>")
                    .append(Html.escape(o.teacherUrl())).append("</code> (given with <code>--teacher</code>).</p>\n");
        }
        h.append("<p>What ran: the demo teacher answered the training instructions (the paper's GPT-4 data collection); a tokenizer and a")
                .append(" small LLaMA were trained from scratch, the untuned base learning the data's texts as a language model, each instruction, input and answer a"
                + " document of its own, never paired;")
                .append(" the base was instruction-tuned on the teacher's answers, all weights (full SFT) and LoRA; the teacher rated")
                .append(" sampled answers of three models, on which a reward model was trained; best-of-n decoding re-ranked samples with it;")
                .append(" a weaker teacher's answers to the same instructions tuned the same base alike, for comparison;")
                .append(" one round of rejection sampling tuned the full model further on its best samples by the reward model;")
                .append(" and every model answered held-out tasks, scored by exact match and ROUGE-L against the rule-based answers.</p>\n");
        if (o.base() != null) {
            h.append("<p>Base model: <code>").append(Html.escape(o.base().toString())).append("</code> (given with <code>--base</code>).</p>\n");
        }
    }

    private void headline(StringBuilder h, Exact exact, Map<String, Double> rouge, double[] ra) {
        h.append("<h2>Result</h2>\n<table><tr><th>model</th><th>exact match</th><th>ROUGE-L</th></tr>\n");
        for (String[] m : pipe.evaluated().subList(0, 4)) {
            h.append("<tr><td>").append(Html.escape(label(m[0]))).append("</td><td class=\"n\">").append(pct(exact.overall(m[0])))
                    .append("</td><td class=\"n\">").append(num(rouge.getOrDefault(m[0], Double.NaN))).append("</td></tr>\n");
        }
        h.append("</table>\n<p>On ").append(exact.counts().getOrDefault("ALL", 0)).append(" held-out tasks the fully tuned model's")
                .append(" exact match is ").append(pct(exact.overall(DemoPipeline.FULL))).append(" against the untuned model's ")
                .append(pct(exact.overall(DemoPipeline.UNTUNED))).append("; the reward model's held-out pairwise accuracy went from ")
                .append(pct(ra[0])).append(" before training to ").append(pct(ra[1])).append(".</p>\n");
    }

    private String label(String model) {
        return switch (model) {
            case DemoPipeline.UNTUNED -> "untuned (base)";
            case DemoPipeline.LORA -> "LoRA SFT (greedy)";
            case DemoPipeline.FULL -> "full SFT (greedy)";
            case DemoPipeline.DPO -> "full SFT + DPO (greedy)";
            default -> model.startsWith(DemoPipeline.BEST_OF) ? "full SFT, best of " + pipe.bestOf() + " (reward model)" : model;
        };
    }

    private void dataSection(StringBuilder h) throws IOException {
        h.append("<h2>Data</h2>\n<table><tr><th>file</th><th>records</th><th>what</th></tr>\n");
        row(h, "data/train-tasks.json", "training instructions (demo tasks, no answers)");
        row(h, "data/alpaca.json", "the teacher's answers: instruction-tuning data (Alpaca JSON)");
        row(h, "data/compare.json", "comparison data: model answers rated 1-10 by the teacher");
        row(h, "data/heldout.json", "held-out tasks with their rule-based answers (evaluation references)");
        row(h, "data/alpaca-weak.json", "the weaker teacher's answers to the same training instructions");
        row(h, "data/heldout-ratings.json", "both students' held-out answers rated 1-10 by the teacher");
        row(h, "runs/rft/rft/kept.json", "rejection sampling: the reward model's best sample per instruction, tuned on");
        h.append("</table>\n");
        Map<String, JsonNode> usage = new LinkedHashMap<>();
        for (String u : List.of("data/alpaca.jsonl.usage.jsonl", "data/compare.jsonl.usage.jsonl", "data/alpaca-weak.jsonl.usage.jsonl",
                "data/heldout-ratings.jsonl.usage.jsonl")) {
            Path f = out.resolve(u);
            if (!Files.isRegularFile(f)) continue;
            long req = 0, prompt = 0, completion = 0, failures = 0;
            for (JsonNode n : jsonLines(f)) {
                req += n.path("requests").asLong();
                prompt += n.path("prompt_tokens").asLong();
                completion += n.path("completion_tokens").asLong();
                failures += n.path("failures").asLong();
            }
            usage.put(u, DemoPipeline.JSON.createObjectNode().put("requests", req).put("prompt", prompt)
                    .put("completion", completion).put("failures", failures));
        }
        if (!usage.isEmpty()) {
            h.append("<p>Teacher usage (from datagen's usage files):</p><table><tr><th>file</th><th>requests</th><th>prompt tokens</th>")
                    .append("<th>completion tokens</th><th>failures</th></tr>\n");
            usage.forEach((f, n) -> h.append("<tr><td><code>").append(Html.escape(f)).append("</code></td><td class=\"n\">")
                    .append(n.get("requests").asLong()).append("</td><td class=\"n\">").append(n.get("prompt").asLong())
                    .append("</td><td class=\"n\">").append(n.get("completion").asLong()).append("</td><td class=\"n\">")
                    .append(n.get("failures").asLong()).append("</td></tr>\n"));
            h.append("</table>\n");
        }
    }

    private void row(StringBuilder h, String rel, String what) throws IOException {
        Path f = out.resolve(rel);
        String n = Files.isRegularFile(f) ? String.valueOf(DemoPipeline.JSON.readTree(f.toFile()).size()) : "-";
        h.append("<tr><td><code>").append(Html.escape(rel)).append("</code></td><td class=\"n\">").append(n).append("</td><td>")
                .append(Html.escape(what)).append("</td></tr>\n");
    }

    private void commandsSection(StringBuilder h, double reportSeconds) throws IOException {
        h.append("<h2>Every command</h2>\n<p>Each stage ran these commands in this order (in one process; typed one by one in a")
                .append(" shell they do the same). Times are those of the run that did the stage.</p>\n")
                .append("<table><tr><th>stage</th><th>command</th><th>seconds</th></tr>\n");
        for (String[] t : new String[][] {{"teacher", "teacher.json"}, {"weaker teacher", "weak-teacher.json"}}) {
            Path note = pipe.markerDir().resolve(t[1]);
            if (!Files.isRegularFile(note)) continue;
            h.append("<tr><td>").append(t[0]).append("</td><td><pre>$ ")
                    .append(Html.escape(DemoPipeline.JSON.readTree(note.toFile()).path("command").asText()))
                    .append("</pre>(started inside the run)</td><td class=\"n\">-</td></tr>\n");
        }
        double total = 0;
        for (DemoStage st : pipe.stages("TEACHER")) {
            Path m = pipe.marker(st.id());
            if (!Files.isRegularFile(m)) continue;
            JsonNode marker = DemoPipeline.JSON.readTree(m.toFile());
            for (JsonNode c : marker.path("commands")) {
                h.append("<tr><td>").append(Html.escape(st.id())).append("</td><td><pre>$ ").append(Html.escape(c.path("command").asText()))
                        .append("</pre></td><td class=\"n\">").append(String.format(Locale.ROOT, "%.1f", c.path("seconds").asDouble()))
                        .append("</td></tr>\n");
            }
            total += marker.path("seconds").asDouble();
        }
        h.append(String.format(Locale.ROOT, "<tr><td>report</td><td>this page</td><td class=\"n\">%.1f</td></tr>\n", reportSeconds));
        h.append(String.format(Locale.ROOT, "<tr><th colspan=\"2\">total</th><th class=\"n\">%.1f</th></tr>\n</table>\n", total + reportSeconds));
    }

    private void trainingSection(StringBuilder h) throws IOException {
        h.append("<h2>Training</h2>\n<table><tr><th>run</th><th>steps</th><th>held-out loss before (step 0)</th><th>held-out loss after</th></tr>\n");
        Map<String, String> runs = new LinkedHashMap<>();
        if (pipe.options().base() == null) runs.put("base", "pretraining on the texts (the untuned base)");
        runs.put("full", "full SFT");
        runs.put("lora", "LoRA SFT");
        runs.put("rm", "reward model");
        runs.put("dpo", "DPO of the full SFT model");
        runs.put("weak", "full SFT on the weaker teacher's answers");
        runs.put("rft", "rejection-sampling fine-tune of the full model");
        for (var e : runs.entrySet()) {
            Path metrics = out.resolve("runs/" + e.getKey() + "/metrics.jsonl");
            if (!Files.isRegularFile(metrics)) continue;
            List<JsonNode> lines = jsonLines(metrics);
            int steps = 0;
            for (JsonNode m : lines) steps = Math.max(steps, m.path("step").asInt());
            double[] evalLoss = firstAndLast(lines, "eval_loss");
            double first = evalLoss[0], last = evalLoss[1];
            h.append("<tr><td>").append(Html.escape(e.getValue())).append(" (<code>runs/").append(e.getKey()).append("</code>)</td><td class=\"n\">")
                    .append(steps).append("</td><td class=\"n\">").append(num(first)).append("</td><td class=\"n\">").append(num(last))
                    .append("</td></tr>\n");
        }
        h.append("</table>\n");
        for (String run : runs.keySet()) img(h, "runs/" + run + "/loss.png", runs.get(run) + ": loss");
    }

    private void rewardSection(StringBuilder h, double[] ra) {
        h.append("<h2>Reward model</h2>\n<p>Held-out pairwise accuracy (how often the reward model ranks the teacher's higher-rated")
                .append(" answer above the lower-rated one): <b>").append(pct(ra[0])).append("</b> before training (step 0), <b>")
                .append(pct(ra[1])).append("</b> after.</p>\n");
        img(h, "runs/rm/accuracy.png", "reward model accuracy");
    }

    private void evalSection(StringBuilder h, Exact exact, Map<String, Double> rouge) throws IOException {
        List<String> models = pipe.evaluated().subList(0, 4).stream().map(m -> m[0]).toList();
        Set<String> cats = new LinkedHashSet<>(exact.counts().keySet());
        cats.remove("ALL");
        h.append("<h2>Held-out evaluation</h2>\n<h3>Exact match per category</h3>\n<table><tr><th>category</th><th>tasks</th>");
        for (String m : models) h.append("<th>").append(Html.escape(label(m))).append("</th>");
        h.append("</tr>\n");
        for (String c : cats) {
            h.append("<tr><td>").append(Html.escape(c)).append("</td><td class=\"n\">").append(exact.counts().get(c)).append("</td>");
            for (String m : models) h.append("<td class=\"n\">").append(pct(exact.byModel().getOrDefault(m, Map.of()).getOrDefault(c, Double.NaN))).append("</td>");
            h.append("</tr>\n");
        }
        h.append("<tr><th>all</th><th class=\"n\">").append(exact.counts().getOrDefault("ALL", 0)).append("</th>");
        for (String m : models) h.append("<th class=\"n\">").append(pct(exact.overall(m))).append("</th>");
        h.append("</tr></table>\n");
        img(h, "eval/exact/exact.png", "exact match per category");
        Map<String, Map<String, Double>> rc = rougeByCategory();
        h.append("<h3>ROUGE-L (F) per category</h3>\n<table><tr><th>category</th>");
        for (String m : models) h.append("<th>").append(Html.escape(label(m))).append("</th>");
        h.append("</tr>\n");
        for (String c : cats) {
            h.append("<tr><td>").append(Html.escape(c)).append("</td>");
            for (String m : models) h.append("<td class=\"n\">").append(num(rc.getOrDefault(m, Map.of()).getOrDefault(c, Double.NaN))).append("</td>");
            h.append("</tr>\n");
        }
        h.append("<tr><th>all</th>");
        for (String m : models) h.append("<th class=\"n\">").append(num(rouge.getOrDefault(m, Double.NaN))).append("</th>");
        h.append("</tr></table>\n");
        img(h, "eval/rouge/rouge.png", "ROUGE by reference length");
    }

    private void bestOfSection(StringBuilder h, Exact exact, Map<String, Double> rouge) {
        int n = pipe.bestOf();
        h.append("<h2>Best-of-").append(n).append("</h2>\n<p>The full model sampled ").append(n).append(" answers per held-out task")
                .append(" (temperature 0.7); the reward model ranked them. Ranked k-th is the k-th best by reward of every task; their")
                .append(" mean is what a single sample scores.</p>\n<table><tr><th>answers</th><th>exact match</th><th>ROUGE-L</th></tr>\n");
        List<String[]> ev = pipe.evaluated();
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {DemoPipeline.FULL, "greedy"});
        for (int k = 1; k <= n; k++) rows.add(new String[] {ev.get(3 + k)[0], "ranked " + k + " of " + n + (k == 1 ? " (best-of-" + n + ")" : "")});
        double sum = 0, rsum = 0;
        for (String[] r : rows) {
            h.append("<tr><td>").append(Html.escape(r[1])).append("</td><td class=\"n\">").append(pct(exact.overall(r[0])))
                    .append("</td><td class=\"n\">").append(num(rouge.getOrDefault(r[0], Double.NaN))).append("</td></tr>\n");
        }
        for (int k = 1; k <= n; k++) {
            sum += exact.overall(ev.get(3 + k)[0]);
            rsum += rouge.getOrDefault(ev.get(3 + k)[0], Double.NaN);
        }
        h.append("<tr><td>one sample (mean of the ranks)</td><td class=\"n\">").append(pct(sum / n)).append("</td><td class=\"n\">")
                .append(num(rsum / n)).append("</td></tr>\n</table>\n");
    }

    /** The DPO run's held-out preference accuracy before and after (TRL's eval_rewards/accuracies), from its metrics. */
    double[] dpoAccuracy() throws IOException {
        return firstAndLast(jsonLines(out.resolve("runs/dpo/metrics.jsonl")), "eval_rewards/accuracies");
    }

    /** The preference stage: the DPO model beside the full SFT model it started from, every figure read from the stage's outputs. */
    private void dpoSection(StringBuilder h, Exact exact, Map<String, Double> rouge) throws IOException {
        double[] acc = dpoAccuracy();
        h.append("<h2>Preference optimisation (DPO)</h2>\n<p>The full SFT model trained further with DPO on the teacher's")
                .append(" comparison ratings (<code>runs/dpo</code>). Held-out preference accuracy (how often the model's implicit")
                .append(" reward ranks the teacher's higher-rated answer above the lower-rated one): <b>").append(pct(acc[0]))
                .append("</b> before training (step 0, where policy and reference agree and no pair is ordered), <b>")
                .append(pct(acc[1])).append("</b> after. Held-out answers are greedy; the reward model scores each.</p>\n")
                .append("<table><tr><th>model</th><th>exact match</th><th>ROUGE-L</th><th>mean reward-model score</th></tr>\n");
        for (String m : List.of(DemoPipeline.FULL, DemoPipeline.DPO)) {
            h.append("<tr><td>").append(Html.escape(label(m))).append("</td><td class=\"n\">").append(pct(exact.overall(m)))
                    .append("</td><td class=\"n\">").append(num(rouge.getOrDefault(m, Double.NaN))).append("</td><td class=\"n\">")
                    .append(num(meanReward(out.resolve("answers/heldout/" + m + ".jsonl")))).append("</td></tr>\n");
        }
        h.append("</table>\n");
        img(h, "runs/dpo/loss.png", "DPO loss");
    }

    /**
     * The report's first table, as the paper's Fig. 4 compares LLaMA-GPT4 with Alpaca: the students of
     * the strong and the weaker teacher on held-out exact match and on the teacher's 1-10 ratings of
     * their held-out answers (from {@code data/heldout-ratings.json}), with how often each training set
     * was right.
     */
    private void teacherComparisonSection(StringBuilder h, Exact exact) throws IOException {
        Map<String, List<Double>> ratings = ratings(out.resolve("data/heldout-ratings.json"));
        List<Double> strong = ratings.getOrDefault(DemoPipeline.FULL, List.of()), weak = ratings.getOrDefault(DemoPipeline.WEAK, List.of());
        int[] wtl = new int[3]; // strong student rated higher, the same, lower
        for (int i = 0; i < Math.min(strong.size(), weak.size()); i++) wtl[1 + Integer.signum(Double.compare(weak.get(i), strong.get(i)))]++;
        h.append("<h2>Strong teacher against weaker teacher</h2>\n<p>The paper's central comparison in miniature: the same base,")
                .append(" tuned with the same recipe (full SFT) on the strong teacher's answers and on a weaker teacher's (the demo")
                .append(" teacher answering a share of the tasks sloppily, standing in for GPT-3.5 beside GPT-4), then rated on the")
                .append(" held-out tasks by exact match and by the teacher's 1-10 ratings of their answers.</p>\n")
                .append("<table><tr><th>student</th><th>training answers right</th><th>held-out exact match</th>")
                .append("<th>mean teacher rating (1-10)</th><th>answers rated</th></tr>\n");
        String[][] rows = {{DemoPipeline.FULL, "student of the strong teacher (full SFT)", "data/alpaca.json"},
                {DemoPipeline.WEAK, "student of the weaker teacher (full SFT)", "data/alpaca-weak.json"}};
        for (String[] r : rows) {
            List<Double> rs = ratings.getOrDefault(r[0], List.of());
            h.append("<tr><td>").append(Html.escape(r[1])).append("</td><td class=\"n\">").append(pct(rightShare(out.resolve(r[2]))))
                    .append("</td><td class=\"n\">").append(pct(exact.overall(r[0]))).append("</td><td class=\"n\">")
                    .append(String.format(Locale.ROOT, "%.2f", rs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN)))
                    .append("</td><td class=\"n\">").append(rs.size()).append("</td></tr>\n");
        }
        h.append("</table>\n<p>Task by task, the teacher rated the strong teacher's student higher on ").append(wtl[0])
                .append(", the same on ").append(wtl[1]).append(" and lower on ").append(wtl[2]).append(" held-out tasks.</p>\n");
    }

    /** The teacher's 1-10 ratings per model (the responses' source) in a comparison file, in record order. */
    static Map<String, List<Double>> ratings(Path file) throws IOException {
        Map<String, List<Double>> by = new LinkedHashMap<>();
        for (JsonNode rec : DemoPipeline.JSON.readTree(file.toFile())) {
            for (JsonNode r : rec.path("responses_and_scores")) {
                if (r.path("score").isNumber()) by.computeIfAbsent(r.path("source").asText(), k -> new ArrayList<>()).add(r.get("score").asDouble());
            }
        }
        return by;
    }

    /** The share of an Alpaca file's answers that are the demo task's right answer (NaN when it has none). */
    static double rightShare(Path file) throws IOException {
        JsonNode records = DemoPipeline.JSON.readTree(file.toFile());
        int right = 0;
        for (JsonNode r : records) {
            String expected = org.gpt4llm.datagen.demo.DemoTasks.solve(r.path("instruction").asText(), r.path("input").asText()).orElse(null);
            if (r.path("output").asText().equals(expected)) right++;
        }
        return records.isEmpty() ? Double.NaN : (double) right / records.size();
    }

    /**
     * One round of rejection sampling against the model it started from: held-out exact match, ROUGE-L and
     * the reward model's mean score of the greedy answers, and how much of the sampled data was kept.
     */
    private void rejectionSamplingSection(StringBuilder h, Exact exact, Map<String, Double> rouge) throws IOException {
        JsonNode kept = DemoPipeline.JSON.readTree(out.resolve("runs/rft/rft/kept.json").toFile());
        int sampled = jsonLines(out.resolve("runs/rft/rft/samples.jsonl")).size();
        double keptReward = 0;
        for (JsonNode k : kept) keptReward += k.path("reward").asDouble();
        h.append("<h2>Rejection sampling</h2>\n<p>One round (<code>gpt4llm rft</code>): the full SFT model sampled ").append(pipe.bestOf())
                .append(" answers (temperature 0.7) to each of ").append(sampled).append(" training instructions, the reward model kept the")
                .append(" best of each (").append(kept.size()).append(" kept, mean reward ").append(num(kept.isEmpty() ? Double.NaN : keptReward / kept.size()))
                .append("), and the model was tuned further on them. Held-out answers are greedy; the reward model scores each.</p>\n")
                .append("<table><tr><th>model</th><th>exact match</th><th>ROUGE-L</th><th>mean reward-model score</th></tr>\n");
        String[][] rows = {{DemoPipeline.FULL, "full SFT (greedy)"}, {DemoPipeline.RFT, "full SFT + one round of rejection sampling (greedy)"}};
        for (String[] r : rows) {
            h.append("<tr><td>").append(Html.escape(r[1])).append("</td><td class=\"n\">").append(pct(exact.overall(r[0])))
                    .append("</td><td class=\"n\">").append(num(rouge.getOrDefault(r[0], Double.NaN))).append("</td><td class=\"n\">")
                    .append(num(meanReward(out.resolve("answers/heldout/" + r[0] + ".jsonl")))).append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    /** The mean of the answers' {@code metadata.reward} in an answer file (NaN when none has one). */
    static double meanReward(Path answers) throws IOException {
        double sum = 0;
        int n = 0;
        for (JsonNode r : jsonLines(answers)) {
            JsonNode reward = r.path("metadata").path("reward");
            if (!reward.isNumber()) continue;
            sum += reward.asDouble();
            n++;
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    private void samplesSection(StringBuilder h) throws IOException {
        JsonNode tasks = DemoPipeline.JSON.readTree(out.resolve("data/heldout.json").toFile());
        List<String[]> models = pipe.evaluated().subList(0, 4);
        List<Map<String, String>> answers = new ArrayList<>();
        for (String[] m : models) answers.add(answersById(Path.of(m[1])));
        Map<String, Integer> shown = new TreeMap<>();
        h.append("<h2>Sample answers</h2>\n<table><tr><th>task</th><th>reference</th>");
        for (String[] m : models) h.append("<th>").append(Html.escape(label(m[0]))).append("</th>");
        h.append("</tr>\n");
        for (int i = 0; i < tasks.size(); i++) {
            JsonNode t = tasks.get(i);
            String cat = t.path("category").asText();
            if (shown.merge(cat, 1, Integer::sum) > 2) continue;
            h.append("<tr><td><pre>").append(Html.escape(t.path("instruction").asText()));
            if (!t.path("input").asText().isEmpty()) h.append("\n\n").append(Html.escape(t.path("input").asText()));
            h.append("</pre>(").append(Html.escape(cat)).append(")</td><td><pre>").append(Html.escape(t.path("output").asText())).append("</pre></td>");
            for (Map<String, String> a : answers) {
                String text = a.getOrDefault(taskId(t, i), "");
                boolean right = text.strip().equals(t.path("output").asText().strip());
                h.append("<td><pre>").append(Html.escape(text)).append("</pre>").append(right ? "&#10003;" : "").append("</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</table>\n<p>&#10003; marks an answer equal to the reference (leading and trailing blanks aside); the scores above")
                .append(" are eval exact's.</p>\n");
    }

    /** A held-out task's question id, as generate gives it: the task's own id, else its index. */
    static String taskId(JsonNode task, int index) {
        return task.path("id").isValueNode() ? task.get("id").asText() : String.valueOf(index);
    }

    private static Map<String, String> answersById(Path file) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        if (!Files.isRegularFile(file)) return m;
        for (JsonNode r : jsonLines(file)) {
            m.put(r.path("question_id").asText(), r.path("text").asText());
        }
        return m;
    }

    private void img(StringBuilder h, String rel, String alt) {
        if (!Files.isRegularFile(out.resolve(rel))) return;
        h.append("<img src=\"").append(Html.escape(rel)).append("\" alt=\"").append(Html.escape(alt)).append("\">\n");
    }

    static String pct(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    static String num(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

}
