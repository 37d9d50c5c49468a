package org.gpt4llm.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.eval.rouge.RougeEval;
import org.gpt4llm.eval.rouge.RougeEval.Bucket;
import org.gpt4llm.eval.rouge.RougeEval.LengthWords;
import org.gpt4llm.eval.rouge.RougeEval.Row;
import org.gpt4llm.eval.rouge.RougeEval.Scored;
import org.gpt4llm.eval.rouge.RougeInputs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm eval rouge}: ROUGE-1/2/L by ground-truth length, as the paper's Fig. 6, for one or
 * more models. Writes {@code rouge.json} (all rows), one file per bucket named as the paper's
 * ({@code rouge_len0-2.json} … {@code rouge_lenALL.json}), {@code rouge.png} and {@code rouge.md}.
 */
@Command(name = "rouge", mixinStandardHelpOptions = true,
        description = "ROUGE-1/2/L F-measure (as rouge-score) per ground-truth length bucket, in the paper's result format, with its bar chart.")
public final class EvalRougeCommand implements Callable<Integer> {
    @Option(names = "--pairs", description = "JSON/JSONL of {prediction, reference} or {prediction, references: [...]}; repeat for several models")
    List<Path> pairs = new ArrayList<>();

    @Option(names = "--predictions", description = "FastChat answer file or Alpaca-format outputs; repeat for several models")
    List<Path> predictions = new ArrayList<>();

    @Option(names = "--references", description = "references for --predictions: {reference(s)}, Alpaca {output} or FastChat {text}, matched by question_id or position")
    Path references;

    @Option(names = "--model", description = "model name, one per --pairs/--predictions file in order (default: the file name)")
    List<String> models = new ArrayList<>();

    @Option(names = "--stemmer", description = "Porter stemming of tokens longer than 3 characters: on or off (default on)")
    String stemmer = "on";

    @Option(names = "--length-words", description = "how reference length is counted: whitespace (words split on spaces) or tokens (ROUGE tokens); default whitespace")
    String lengthWords = "whitespace";

    @Option(names = "--paper", description = "folder of result files in the paper's format (e.g. shared/data/paper_unnatural_rouge) to show next to ours")
    Path paper;

    @Option(names = "--per-instance", description = "also write each instance's scores here (JSONL)")
    Path perInstance;

    @Mixin
    OutFlag report = new OutFlag();

    @Override
    public Integer call() throws IOException {
        Path out = report.folder();
        boolean stem = switch (stemmer.toLowerCase(Locale.ROOT)) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new IllegalArgumentException("--stemmer must be on or off, got " + stemmer);
        };
        LengthWords words = switch (lengthWords.toLowerCase(Locale.ROOT)) {
            case "whitespace" -> LengthWords.WHITESPACE;
            case "tokens" -> LengthWords.TOKENS;
            default -> throw new IllegalArgumentException("--length-words must be whitespace or tokens, got " + lengthWords);
        };
        if (pairs.isEmpty() == predictions.isEmpty()) throw new IllegalArgumentException("give either --pairs or --predictions (with --references)");
        if (!predictions.isEmpty() && references == null) throw new IllegalArgumentException("--predictions needs --references");
        if (!pairs.isEmpty() && references != null) throw new IllegalArgumentException("--references goes with --predictions, not --pairs");
        List<Path> files = pairs.isEmpty() ? predictions : pairs;
        if (!models.isEmpty() && models.size() != files.size()) {
            throw new IllegalArgumentException("--model given " + models.size() + " times for " + files.size() + " input files");
        }

        List<Row> rows = new ArrayList<>();
        StringBuilder perInstanceLines = new StringBuilder();
        for (int i = 0; i < files.size(); i++) {
            Path file = files.get(i);
            String model = models.isEmpty() ? baseName(file) : models.get(i);
            List<Scored> scored = RougeEval.score(pairs.isEmpty() ? RougeInputs.aligned(file, references) : RougeInputs.pairs(file), stem, words);
            rows.addAll(RougeEval.rows(model, scored));
            perInstanceLines.append(RougeEval.perInstanceJsonl(model, scored));
        }
        List<Row> paperRows = paper == null ? List.of() : paperRows(paper);

        List<Row> ours = bucketMajor(rows);
        ReportFiles.writeText(out.resolve("rouge.json"), RougeEval.toPaperText(ours));
        for (Bucket b : Bucket.values()) {
            ReportFiles.writeText(out.resolve("rouge_len" + b.fileSuffix + ".json"),
                    RougeEval.toPaperText(ours.stream().filter(r -> r.length().equals(b.label)).toList()));
        }
        List<Row> shown = bucketMajor(Stream.concat(rows.stream(), paperRows.stream()).toList());
        ReportFiles.writePng(out.resolve("rouge.png"), RougeEval.chart(shown));
        ReportFiles.writeText(out.resolve("rouge.md"), RougeEval.markdown(shown, stem, words));
        if (perInstance != null) ReportFiles.writeText(perInstance, perInstanceLines.toString());

        System.out.print(RougeEval.markdown(shown, stem, words));
        System.out.println("\nwrote " + out.resolve("rouge.json") + ", rouge_len*.json, rouge.png, rouge.md");
        return 0;
    }

    /** The paper's rows, its model names marked "(paper)". */
    private static List<Row> paperRows(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--paper " + dir + " is not a folder");
        List<Row> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                JsonNode json;
                try {
                    json = ReportFiles.JSON.readTree(TextFiles.read(f));
                } catch (JacksonException e) {
                    throw new IOException(f + " is not valid JSON: " + e.getOriginalMessage(), e);
                }
                for (Row r : RougeEval.fromJson(json, f.toString())) {
                    out.add(new Row(r.length(), r.numInstance(), r.model() + " (paper)", r.rouge1(), r.rouge2(), r.rougeL()));
                }
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException("--paper " + dir + " has no result files (*.json)");
        return out;
    }

    /** Rows ordered by bucket (as Bucket lists them, unknown labels last), then as given. */
    private static List<Row> bucketMajor(List<Row> rows) {
        List<Row> out = new ArrayList<>();
        for (Bucket b : Bucket.values()) for (Row r : rows) if (r.length().equals(b.label)) out.add(r);
        for (Row r : rows) if (!out.contains(r)) out.add(r);
        return out;
    }

    private static String baseName(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }
}
