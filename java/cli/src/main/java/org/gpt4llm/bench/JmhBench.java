package org.gpt4llm.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.gpt4llm.bench.jmh.TokenizerBench;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.NoBenchmarksException;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * The Java-side micro-benchmarks of {@code org.gpt4llm.bench.jmh}, run through JMH's {@link Runner}.
 * Each benchmark runs in a forked JVM started with this JVM's {@code java} and class path (JMH reads
 * {@code java.class.path}, which the launcher's {@code -cp} sets) plus native access, so the fork
 * can load the same native libraries.
 */
public final class JmhBench {
    /** The package holding the benchmarks; include patterns are matched against names under it. */
    public static final String PACKAGE = "org.gpt4llm.bench.jmh.";

    /**
     * @param include       JMH include regex, matched against the benchmark's full name (null: all)
     * @param warmups       warmup iterations per fork
     * @param measurements  measured iterations per fork
     * @param iterationMs   length of each iteration
     * @param forks         JVM forks per benchmark (0 runs in this JVM, which makes the numbers less reliable)
     * @param tokenizer     folder of the tokenizer the tokenizer benchmark encodes with; null skips it
     */
    public record Options(String include, int warmups, int measurements, int iterationMs, int forks, Path tokenizer) {
        public Options {
            if (forks < 0) throw new IllegalArgumentException("--forks must not be negative, got " + forks);
            if (warmups < 0 || measurements < 1 || iterationMs < 1) {
                throw new IllegalArgumentException("JMH needs at least one measured iteration of at least 1 ms");
            }
        }

        /** A smoke run: 1 warmup and 2 measured iterations of 100 ms; the numbers are rough. */
        public static Options quick(String include, Path tokenizer) {
            return new Options(include, 1, 2, 100, 1, tokenizer);
        }

        /**
         * The pass of the combined {@code gpt4llm bench}: 2 warmup and 5 measured iterations of 300 ms
         * (five samples give a usable confidence interval; three barely do).
         */
        public static Options brief(String include, Path tokenizer) {
            return new Options(include, 2, 5, 300, 1, tokenizer);
        }

        /** {@code gpt4llm bench jmh}: 3 warmup and 5 measured iterations of 1 s. */
        public static Options standard(String include, Path tokenizer) {
            return new Options(include, 3, 5, 1000, 1, tokenizer);
        }
    }

    /**
     * One benchmark (with its parameters): mean score, its 99.9% confidence half-width ({@code error}, NaN
     * and null in the JSON with too few samples for an interval), and unit; a row of the JSON as it is.
     */
    public record Row(String benchmark, String params, String mode, double score,
                      @JsonProperty("error_99_9") @NanAsNull double error, String unit, int samples) {
        /** Short name: class.method without the package, with the parameters in brackets. */
        public String label() {
            String name = benchmark.startsWith(PACKAGE) ? benchmark.substring(PACKAGE.length()) : benchmark;
            return params.isEmpty() ? name : name + "[" + params + "]";
        }
    }

    /** What ran and why a benchmark did not (the tokenizer one without a tokenizer folder). */
    public record Result(List<Row> rows, List<String> notes) {
        /** The JSON report of {@code bench jmh --json}. */
        public Report report() {
            return new Report("jmh", rows, notes);
        }
    }

    /** The JSON of a run: one row per benchmark, and the notes. */
    public record Report(String bench, List<Row> rows, List<String> notes) {}

    private JmhBench() {}

    /**
     * The tokenizer benchmarks use by default: {@code shared/models/llama2-tokenizer} beside the project
     * (beside the working directory or one of its parents, or beside {@code $G4_ROOT}), if present.
     */
    public static Path defaultTokenizer() {
        String root = System.getenv("G4_ROOT");
        List<Path> starts = new ArrayList<>();
        starts.add(Path.of("").toAbsolutePath());
        if (root != null) starts.add(Path.of(root).toAbsolutePath());
        for (Path start : starts) {
            for (Path dir = start; dir != null && dir.getParent() != null; dir = dir.getParent()) {
                Path p = dir.resolveSibling("shared").resolve("models/llama2-tokenizer");
                if (Files.isRegularFile(p.resolve("tokenizer.json"))) return p.normalize();
            }
        }
        return null;
    }

    public static Result run(Options o, PrintStream progress) throws RunnerException {
        List<String> notes = new ArrayList<>();
        ChainedOptionsBuilder b = new OptionsBuilder()
                .include(o.include() == null || o.include().isBlank() ? PACKAGE : o.include())
                .forks(o.forks())
                .warmupIterations(o.warmups())
                .warmupTime(TimeValue.milliseconds(o.iterationMs()))
                .measurementIterations(o.measurements())
                .measurementTime(TimeValue.milliseconds(o.iterationMs()))
                .threads(1)
                .shouldFailOnError(true)
                .verbosity(progress == null ? VerboseMode.SILENT : VerboseMode.NORMAL)
                .jvmArgsAppend(forkJvmArgs(o.tokenizer()));
        if (o.tokenizer() == null) {
            b.exclude(TokenizerBench.class.getName());
            notes.add("TokenizerBench skipped: no tokenizer folder (shared/models/llama2-tokenizer not found; give --tokenizer)");
        } else {
            // the in-process run (forks 0) reads the property from this JVM
            System.setProperty(TokenizerBench.PROPERTY, o.tokenizer().toString());
        }
        PrintStream old = System.out;
        Collection<RunResult> results;
        try {
            // JMH prints its progress to System.out; keep the caller's stdout for the report alone
            if (progress != null && progress != old) System.setOut(progress);
            results = new Runner(b.build()).run();
        } catch (NoBenchmarksException e) {
            throw new IllegalArgumentException("--include " + o.include() + " matches no benchmark in " + PACKAGE
                    + " (SamplerBench, TokenizerBench, RougeBench, JsonRecordsBench, RateLimiterBench)");
        } finally {
            System.setOut(old);
        }
        List<Row> rows = new ArrayList<>();
        for (RunResult r : results) {
            BenchmarkParams p = r.getParams();
            String params = p.getParamsKeys().stream().map(k -> k + "=" + p.getParam(k)).collect(Collectors.joining(","));
            var primary = r.getPrimaryResult();
            rows.add(new Row(p.getBenchmark(), params, p.getMode().shortLabel(), primary.getScore(), primary.getScoreError(),
                    primary.getScoreUnit(), (int) primary.getSampleCount()));
        }
        if (rows.isEmpty()) throw new IllegalStateException("JMH ran no benchmark for --include " + o.include());
        return new Result(rows, notes);
    }

    /** Native access for the fork, the tokenizer folder, and no JDK 24+ warning about JavaCPP's Unsafe. */
    private static String[] forkJvmArgs(Path tokenizer) {
        List<String> args = new ArrayList<>(List.of("--enable-native-access=ALL-UNNAMED", "-Xss8m"));
        if (Runtime.version().feature() >= 24) args.add("--sun-misc-unsafe-memory-access=allow");
        if (tokenizer != null) args.add("-D" + TokenizerBench.PROPERTY + "=" + tokenizer);
        return args.toArray(String[]::new);
    }

    /** The rows as a text table. */
    public static String toText(Result r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-48s %6s %14s %12s  %s%n", "benchmark", "mode", "score", "± (99.9%)", "unit"));
        for (Row row : r.rows()) {
            sb.append(String.format(Locale.ROOT, "%-48s %6s %14.3f %12s  %s%n", row.label(), row.mode(), row.score(),
                    Double.isNaN(row.error()) ? "-" : String.format(Locale.ROOT, "%.3f", row.error()), row.unit()));
        }
        for (String n : r.notes()) sb.append(n).append('\n');
        return sb.toString();
    }
}
