package org.gpt4llm.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.gpt4llm.eval.stats.LengthHistogram;
import org.gpt4llm.eval.stats.ScoreDistribution;
import org.gpt4llm.eval.stats.Texts;
import org.gpt4llm.eval.stats.VerbNounExtractor;
import org.gpt4llm.eval.stats.VerbNounStats;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm eval stats verbs|lengths|scores}: the paper's data statistics (Fig. 1 and 2), each
 * written as JSON, PNG and Markdown into {@code --out}.
 */
@Command(name = "stats", mixinStandardHelpOptions = true,
        description = "Data statistics: verb-noun pairs (Fig. 1a/b), output lengths (Fig. 1d), comparison-score distribution (Fig. 2).",
        subcommands = {EvalStatsCommand.Verbs.class, EvalStatsCommand.Lengths.class, EvalStatsCommand.Scores.class})
public final class EvalStatsCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    static PrintWriter stdout() {
        return new PrintWriter(System.out, true, StandardCharsets.UTF_8);
    }

    @Command(name = "verbs", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Root verb and object noun of each text's first sentence (OpenNLP POS tags; see the report for the approximation):"
                    + " counts of unique verbs and pairs, the top pairs chart.")
    static final class Verbs implements Callable<Integer> {
        @Option(names = "--data", required = true, description = "data file: JSON array or JSONL of records")
        Path data;

        @Option(names = "--field", defaultValue = "instruction", description = "text field of each record (default: ${DEFAULT-VALUE})")
        String field;

        @Option(names = "--top", defaultValue = "25", description = "pairs in the chart and the report (default: ${DEFAULT-VALUE})")
        int top;

        @Mixin
        OutFlag report = new OutFlag();

        @Override
        public Integer call() throws Exception {
            Path out = report.folder();
            if (top < 1) throw new IllegalArgumentException("--top must be at least 1, got " + top);
            List<String> texts = Texts.read(data, field);
            VerbNounStats stats = VerbNounStats.of(texts, new VerbNounExtractor());
            stats.write(out, data.toString(), field, top);
            PrintWriter o = stdout();
            o.printf("%d texts: %d with a verb, %d with a verb and object noun; %d unique verbs, %d unique pairs%n",
                    stats.texts(), stats.withVerb(), stats.withPair(), stats.verbCounts().size(), stats.pairCounts().size());
            for (VerbNounStats.Count c : stats.topPairs(Math.min(top, 10))) o.printf("  %-30s %d%n", c.key(), c.count());
            o.println("wrote " + out.resolve(field + "_verbs.json") + ", .png, .md");
            return 0;
        }
    }

    @Command(name = "lengths", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Histograms of words per text, one series per --data file, on a log axis (Fig. 1d).")
    static final class Lengths implements Callable<Integer> {
        @Option(names = "--data", required = true, description = "data file (repeat to compare; the name of each series is the file name)")
        List<Path> data = new ArrayList<>();

        @Option(names = "--field", defaultValue = "output", description = "text field of each record (default: ${DEFAULT-VALUE})")
        String field;

        @Option(names = "--bin", defaultValue = "16", description = "bin width in words (default: ${DEFAULT-VALUE})")
        int bin;

        @Option(names = "--max", defaultValue = "512", description = "upper end of the bins; longer texts are counted apart (default: ${DEFAULT-VALUE})")
        int max;

        @Mixin
        OutFlag report = new OutFlag();

        @Override
        public Integer call() throws Exception {
            Path out = report.folder();
            List<LengthHistogram.Series> series = new ArrayList<>();
            for (Path file : data) {
                series.add(LengthHistogram.bin(file.getFileName().toString(), Texts.read(file, field), bin, max));
            }
            LengthHistogram.write(out, series, bin, max);
            PrintWriter o = stdout();
            for (LengthHistogram.Series s : series) {
                o.printf("%s: %d texts, mean %.1f words, %d at or above %d%n", s.name(), s.texts(), s.meanWords(), s.above(), max);
            }
            o.println("wrote " + out.resolve("lengths.json") + ", .png, .md");
            return 0;
        }
    }

    @Command(name = "scores", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Distribution and mean of the judge's scores per model from {model: [score, ...]} (Fig. 2).")
    static final class Scores implements Callable<Integer> {
        @Option(names = "--data", required = true, description = "scores file, e.g. paper_comparison_scores.json")
        Path data;

        @Mixin
        OutFlag report = new OutFlag();

        @Override
        public Integer call() throws Exception {
            Path out = report.folder();
            List<ScoreDistribution.Model> models = ScoreDistribution.read(data);
            ScoreDistribution.write(out, data, models);
            PrintWriter o = stdout();
            for (ScoreDistribution.Model m : models) o.printf("%-20s %6d scores, mean %.4f%n", m.name(), m.n(), m.mean());
            o.println("wrote " + out.resolve("scores.json") + ", .png, .md");
            return 0;
        }
    }
}
