package org.gpt4llm.bench;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.gpt4llm.datagen.bench.TeacherBench;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.reference.Torch;

/**
 * The whole benchmark suite of {@code gpt4llm bench}: every figure next to its peer measured in the
 * same run, in one table ({@link #table}) and one JSON document ({@link Report}).
 *
 * <p>Sections: ceilings (OpenBLAS sgemm, memory bandwidth), kernels (our CPU kernels against
 * libtorch's ops), step (a full and a LoRA training step against libtorch, and the step's GFLOP/s
 * against sgemm at the model's MLP shape), generate (KV-cache decoding against libtorch's), datagen
 * (teacher requests/s against the client's rate limit) and jvm (JMH micro-benchmarks, no peer). Both
 * sides of every comparison use the same thread count.
 */
public final class BenchSuite {
    /** The sections, in the order they run and print. */
    public enum Section {
        CEILINGS, KERNELS, STEP, GENERATE, DATAGEN, JVM;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Comma-separated section names; an unknown one is an error naming {@code flag}. */
        public static EnumSet<Section> parse(String list, String flag) {
            EnumSet<Section> out = EnumSet.noneOf(Section.class);
            for (String s : list.split(",")) {
                if (s.isBlank()) continue;
                try {
                    out.add(valueOf(s.trim().toUpperCase(Locale.ROOT)));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(flag + ": " + s.trim() + " is not a section (ceilings, kernels, step,"
                            + " generate, datagen, jvm)");
                }
            }
            return out;
        }
    }

    /**
     * @param quick     tiny sizes and one or two repetitions: checks that everything runs (the test's
     *                  setting); the numbers mean little
     * @param tokenizer the tokenizer folder of the JMH tokenizer benchmark, null to skip it
     */
    public record Options(Set<Section> sections, boolean quick, int threads, Path tokenizer, long seed) {
        public Options {
            if (sections.isEmpty()) throw new IllegalArgumentException("no section left to run");
            if (threads < 1) throw new IllegalArgumentException("--threads must be positive, got " + threads);
            sections = Set.copyOf(sections);
        }
    }

    /**
     * One line of the table and of the JSON's rows; {@code peer} and {@code ratio} (ours / peer) are NaN
     * where there is no peer (null in the JSON). Higher is better in every unit here.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Row(String section, String benchmark, double ours, @NanAsNull double peer, String peerName,
                      @NanAsNull double ratio, String unit, String note) {
        static Row of(String section, String benchmark, double ours, double peer, String peerName, String unit, String note) {
            return new Row(section, benchmark, ours, peer, peerName, Double.isNaN(peer) ? Double.NaN : ours / peer, unit, note);
        }
    }

    /** The rows, what each section measured in full ({@code details}), the machine, and problems found. */
    public record Result(Options options, Instant started, double seconds, Machine machine, List<Row> rows,
                         Details details, List<String> problems, List<String> notes) {}

    /** The suite's JSON: how it ran, the machine, the table's rows, each section's own report, notes and problems. */
    public record Report(String bench, String started, double seconds, boolean quick, int threads, List<String> sections,
                         Machine machine, List<Row> rows, Details details, List<String> notes, List<String> problems) {}

    /**
     * Cores, threads, CPU, memory (where the JVM tells it), JDK, the native libraries' versions and the
     * load average before and after the run.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Machine(int cores, int threads, String cpu, String os, Double memoryGib, String jdk, String openblas,
                         String libtorch, int libtorchBlasThreads, String nativeBuild, String simdPath,
                         double loadAverageBefore, double loadAverageAfter) {}

    /** What each section that ran measured in full, in its own report; a section that did not run is left out. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Details(KernelDetails kernels, List<StepBench.Report> step, GenerateBench.Report generate,
                          List<DatagenRow> datagen, List<JmhBench.Row> jmh) {}

    /** The ceilings and CPU kernels: every case, both sides, and how far apart their results were. */
    public record KernelDetails(String shape, int threads, double tolerance, List<KernelCase> cases) {}

    /** One case: {@code ours} and {@code peer} in {@code unit}, from median calls doing {@code workPerCall}. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record KernelCase(String name, String unit, double workPerCall, double oursMedianS, double peerMedianS, double ours,
                             double peer, String peerName, double relErr) {}

    /** One concurrency level of the data-collection section. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record DatagenRow(int concurrency, int requests, int answered, double seconds, double requestsPerS,
                             int maxInWindow, int limit, double windowS, long latencyMs) {}

    private BenchSuite() {}

    public static Result run(Options o, PrintStream progress) throws Exception {
        Instant started = Instant.now();
        long t0 = System.nanoTime();
        double loadBefore = loadAverage();
        List<Row> rows = new ArrayList<>();
        List<String> problems = new ArrayList<>(), notes = new ArrayList<>();
        KernelDetails kernels = null;
        List<StepBench.Report> steps = null;
        GenerateBench.Report generate = null;
        double bandwidth = Double.NaN;   // the ceilings' figure, read again by generation
        List<DatagenRow> datagen = null;
        List<JmhBench.Row> jmh = null;
        Set<Section> on = o.sections();

        if (on.contains(Section.CEILINGS) || on.contains(Section.KERNELS)) {
            say(progress, "== ceilings and CPU kernels");
            CpuKernelBench.Shape shape = o.quick() ? CpuKernelBench.Shape.quick() : CpuKernelBench.Shape.full();
            CpuKernelBench.Result k = CpuKernelBench.run(new CpuKernelBench.Options(shape, o.threads(),
                    o.quick() ? 0.02 : 0.6, o.seed()), progress);
            kernels = kernelDetails(k);
            // the quick shape's arrays fit in cache: no bandwidth to read decoding against
            if (!o.quick()) bandwidth = k.bandwidth().best();
            if (on.contains(Section.CEILINGS)) {
                rows.add(kernelRow("ceilings", k.sgemm(), "square, row-major, all threads", k));
                rows.add(kernelRow("ceilings", k.bandwidth(), String.format(Locale.ROOT, "3 x %,d MB arrays, 12 bytes/float",
                        (long) shape.bandwidthN() * 4 >> 20), k));
            }
            if (on.contains(Section.KERNELS)) {
                for (CpuKernelBench.Row r : k.kernels()) rows.add(kernelRow("kernels", r, null, k));
            }
            for (CpuKernelBench.Row r : allKernelRows(k)) {
                if (!r.agrees()) {
                    problems.add(String.format(Locale.ROOT, "%s: ours and libtorch differ (rel err %.2e > %.0e)", r.name(),
                            r.relErr(), CpuKernelBench.TOLERANCE));
                }
            }
        }

        if (on.contains(Section.STEP)) {
            steps = new ArrayList<>();
            for (boolean lora : new boolean[] {false, true}) {
                say(progress, "== training step, " + (lora ? "LoRA" : "full"));
                StepBench.Options so = stepOptions(o, lora);
                StepBench.Result r = StepBench.run(so, progress);
                steps.add(r.report());
                String what = String.format(Locale.ROOT, "train step %s (%s, %dx%d)", lora ? "LoRA r" + so.lora().rank() : "full",
                        so.preset(), so.batch(), so.seq());
                rows.add(Row.of("step", what, r.ours().tokensPerS(), r.libtorch().tokensPerS(), "libtorch", "tokens/s",
                        String.format(Locale.ROOT, "median step %.3f s vs %.3f s; first loss rel diff %.1e",
                                r.ours().medianStepS(), r.libtorch().medianStepS(), r.lossRelDiff())));
                rows.add(Row.of("step", what + " model FLOP rate", r.ours().gflops(), r.sgemmGflops(),
                        String.format(Locale.ROOT, "OpenBLAS sgemm %dx%dx%d", r.sgemmShape()[0], r.sgemmShape()[1],
                                r.sgemmShape()[2]),
                        "GFLOP/s", String.format(Locale.ROOT, "libtorch %.3g GFLOP/s; %.3g model GFLOP/step",
                        r.libtorch().gflops(), r.flopsPerStep() / 1e9)));
                if (r.lossRelDiff() > 1e-3) problems.add(what + ": first-step losses differ (rel " + r.lossRelDiff() + ")");
            }
        }

        if (on.contains(Section.GENERATE)) {
            say(progress, "== generation");
            GenerateBench.Options go = o.quick() ? new GenerateBench.Options(new int[] {1, 4}, 8, 8, 1, o.seed())
                    : new GenerateBench.Options(new int[] {1, 8}, 32, 64, 2, o.seed());
            String preset = o.quick() ? "tiny" : "small";
            GenerateBench.Result g = GenerateBench.runLlama(go, preset, o.quick() ? 512 : 32000, "cpu", o.threads(), true,
                    bandwidth, progress);
            generate = g.report();
            for (int i = 0; i < go.batches().length; i++) {
                int batch = go.batches()[i];
                List<GenerateBench.Row> at = g.rows().stream().filter(r -> r.batch() == batch).toList();
                rows.add(Row.of("generate", String.format(Locale.ROOT, "greedy decode batch %d (%s)", batch, preset),
                        at.get(0).tokensPerS(), at.get(1).tokensPerS(), "libtorch", "tokens/s",
                        String.format(Locale.ROOT, "prompt %d, %d new tokens; prefill %.3f s vs %.3f s; greedy tokens agree %.0f%%"
                                        + "; weights read at %.2f GB/s, %.0f%% of bandwidth",
                                go.promptLen(), go.newTokens(), at.get(0).prefillS(), at.get(1).prefillS(),
                                100 * g.agreement()[i], at.get(0).readGbPerS(), 100 * at.get(0).fractionOfBandwidth())));
            }
        }

        if (on.contains(Section.DATAGEN)) {
            say(progress, "== data collection against a local teacher");
            TeacherBench.Config c = o.quick()
                    ? new TeacherBench.Config(List.of(1, 8), 20, Duration.ofMillis(20), 20, Duration.ofSeconds(1), Duration.ofMillis(250))
                    : new TeacherBench.Config(List.of(1, 4, 16), 100, Duration.ofMillis(50), 50, Duration.ofSeconds(1), Duration.ofMillis(250));
            datagen = new ArrayList<>();
            say(progress, TeacherBench.HEADER);
            for (TeacherBench.Row r : TeacherBench.run(c)) {
                say(progress, r.format());
                datagen.add(new DatagenRow(r.concurrency(), r.requests(), r.answered(), r.seconds(), r.requestsPerSecond(),
                        r.maxInWindow(), r.limit(), r.window().toMillis() / 1000.0, c.latency().toMillis()));
                rows.add(Row.of("datagen", "teacher requests, concurrency " + r.concurrency(), r.requestsPerSecond(),
                        r.limitPerSecond(), "rate limit", "requests/s",
                        String.format(Locale.ROOT, "%d ms latency; %d/%d answered; at most %d in any %.0f s window (limit %d)",
                                c.latency().toMillis(), r.answered(), r.requests(), r.maxInWindow(),
                                r.window().toMillis() / 1000.0, r.limit())));
                if (r.answered() != r.requests()) problems.add("datagen: " + (r.requests() - r.answered()) + " requests unanswered");
                if (r.limit() > 0 && r.maxInWindow() > r.limit()) problems.add("datagen: the rate limit was exceeded");
            }
        }

        if (on.contains(Section.JVM)) {
            say(progress, "== JMH micro-benchmarks");
            JmhBench.Options jo = o.quick() ? JmhBench.Options.quick(null, o.tokenizer())
                    : JmhBench.Options.brief(null, o.tokenizer());
            JmhBench.Result j = JmhBench.run(jo, progress);
            jmh = j.rows();
            for (JmhBench.Row r : j.rows()) {
                rows.add(Row.of("jvm", r.label(), r.score(), Double.NaN, "none", r.unit(),
                        (Double.isNaN(r.error()) ? "" : String.format(Locale.ROOT, "± %.2g (99.9%%), ", r.error()))
                                + String.format(Locale.ROOT, "JMH %s, %d samples; no peer in this run", r.mode(), r.samples())));
            }
            notes.addAll(j.notes());
        }

        Machine machine = machine(o.threads(), loadBefore, loadAverage());
        return new Result(o, started, (System.nanoTime() - t0) / 1e9, machine, rows,
                new Details(kernels, steps, generate, datagen, jmh), problems, notes);
    }

    /** The full or LoRA step of the suite: the small preset at 4 x 256 (quick: tiny at 2 x 32). */
    static StepBench.Options stepOptions(Options o, boolean lora) {
        StepBench.Options d = StepBench.Options.defaults();
        LoraConfig lc = lora ? new LoraConfig(8, 16f, 0f, LoraConfig.parseTargets("q_proj,v_proj")) : null;
        return o.quick()
                ? new StepBench.Options("tiny", 512, 2, 32, o.threads(), 1, 0, o.seed(), StepBench.Peer.LIBTORCH, d.lr(), d.maxGradNorm(),
                        "cpu", lc, false)
                : new StepBench.Options("small", 32000, 4, 256, o.threads(), 3, 1, o.seed(), StepBench.Peer.LIBTORCH, d.lr(),
                        d.maxGradNorm(), "cpu", lc, false);
    }

    private static List<CpuKernelBench.Row> allKernelRows(CpuKernelBench.Result k) {
        List<CpuKernelBench.Row> all = new ArrayList<>(List.of(k.sgemm(), k.bandwidth()));
        all.addAll(k.kernels());
        return all;
    }

    private static Row kernelRow(String section, CpuKernelBench.Row r, String extra, CpuKernelBench.Result k) {
        StringBuilder note = new StringBuilder(String.format(Locale.ROOT, "%.3f ms vs %.3f ms; rel err %.1e", 1e3 * r.oursS(),
                1e3 * r.peerS(), r.relErr()));
        if (section.equals("kernels")) {
            CpuKernelBench.Row ceiling = r.unit().equals("GFLOP/s") ? k.sgemm() : k.bandwidth();
            double best = ceiling.best();
            note.append(String.format(Locale.ROOT, "; %.0f%% of %s", 100 * r.ours() / best,
                    r.unit().equals("GFLOP/s") ? "sgemm" : "bandwidth"));
        }
        if (extra != null) note.append("; ").append(extra);
        if (!r.agrees()) note.append("; MISMATCH");
        return Row.of(section, r.name(), r.ours(), r.peer(), r.peerName(), r.unit(), note.toString());
    }

    private static KernelDetails kernelDetails(CpuKernelBench.Result k) {
        return new KernelDetails(k.shape().describe(), k.threads(), CpuKernelBench.TOLERANCE, allKernelRows(k).stream()
                .map(r -> new KernelCase(r.name(), r.unit(), r.work(), r.oursS(), r.peerS(), r.ours(), r.peer(), r.peerName(),
                        r.relErr()))
                .toList());
    }

    static Machine machine(int threads, double loadBefore, double loadAfter) {
        Double memoryGib = ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getTotalMemorySize() / (double) (1L << 30) : null;
        return new Machine(Runtime.getRuntime().availableProcessors(), threads, cpuModel(),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"),
                memoryGib, System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"),
                OpenBlas.describe(), Torch.version(), Torch.blasThreads(), CpuKernels.buildInfo(), CpuKernels.simdPath().name(),
                loadBefore, loadAfter);
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    private static void say(PrintStream progress, String line) {
        if (progress != null) progress.println(line);
    }

    // ---- output ----

    /** The table with the legend under it. */
    public static String table(Result r) {
        String[] head = {"section", "benchmark", "ours", "peer", "peer name", "ratio", "unit", "note"};
        List<String[]> lines = new ArrayList<>();
        lines.add(head);
        for (Row row : r.rows()) {
            lines.add(new String[] {row.section(), row.benchmark(), num(row.ours()), num(row.peer()), row.peerName(),
                    Double.isNaN(row.ratio()) ? "-" : String.format(Locale.ROOT, "%.2f", row.ratio()), row.unit(), row.note()});
        }
        int[] w = new int[head.length];
        for (String[] l : lines) for (int i = 0; i < l.length; i++) w[i] = Math.max(w[i], l[i].length());
        StringBuilder b = new StringBuilder();
        for (int li = 0; li < lines.size(); li++) {
            String[] l = lines.get(li);
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < l.length; i++) {
                boolean right = i == 2 || i == 3 || i == 5;
                String cell = right ? pad(l[i], w[i], true) : pad(l[i], i == l.length - 1 ? 0 : w[i], false);
                line.append(cell).append(i == l.length - 1 ? "" : "  ");
            }
            b.append(line.toString().stripTrailing()).append('\n');
            if (li == 0) b.append("-".repeat(Math.min(160, line.length()))).append('\n');
        }
        Machine m = r.machine();
        b.append(String.format(Locale.ROOT, "%nmachine: %s, %d cores, %d threads on both sides; %s; OpenBLAS %s; libtorch %s;"
                        + " load average %.1f before, %.1f after; %.0f s in all%n",
                m.cpu(), m.cores(), m.threads(), m.jdk(), m.openblas(), m.libtorch(), m.loadAverageBefore(),
                m.loadAverageAfter(), r.seconds()));
        b.append(LEGEND);
        for (String n : r.notes()) b.append("note: ").append(n).append('\n');
        for (String p : r.problems()) b.append("PROBLEM: ").append(p).append('\n');
        return b.toString();
    }

    static final String LEGEND = """
            ratio = ours / peer; every unit with a peer is higher-is-better, so ratio > 1 means ours is faster.
            ceilings: sgemm GFLOP/s = 2·n³ / median call (OpenBLAS as our CPU backend calls it, against libtorch's mm);
              bandwidth GB/s = 12 bytes·n / median call of y = a + b over arrays far larger than the caches (STREAM's count).
            kernels: our native CPU kernels against libtorch on the same data and thread count, median call after
              checking both give the same result (rel err = ||ours − libtorch|| / ||libtorch||, at most 1e-3);
              GB/s = minimum bytes moved (inputs read once, outputs written once) / time, read against the bandwidth;
              attention GFLOP/s = 2·B·H·T²·D (causal) forward, 3.5x that forward+backward, read against sgemm.
            step: training tokens/s of one full-parameter and one LoRA step (forward, backward, AdamW) against libtorch
              with identical weights and batch; the FLOP-rate row is model FLOPs / step time against OpenBLAS sgemm at
              the model's MLP shape (the fp32 ceiling of a CPU step).
            generate: greedy decoding with a KV cache, new tokens of all rows / decode time, against libtorch's loop.
            datagen: teacher requests/s through the rate-limited client against a local server with a fixed latency;
              the peer is the limit (requests per window / window); the client keeps a 0.25 s margin on the window.
            jvm: JMH average time per operation (lower is better, ± the 99.9% confidence half-width); no peer.
            """;

    private static String num(double x) {
        if (Double.isNaN(x)) return "-";
        if (x >= 1e5) return String.format(Locale.ROOT, "%,.0f", x);
        if (x >= 100) return String.format(Locale.ROOT, "%.1f", x);
        return String.format(Locale.ROOT, "%.3g", x);
    }

    private static String pad(String s, int w, boolean right) {
        if (s.length() >= w) return s;
        String sp = " ".repeat(w - s.length());
        return right ? sp + s : s + sp;
    }

    /** The suite's JSON document. */
    public static Report report(Result r) {
        List<String> sections = new ArrayList<>();
        for (Section s : Section.values()) if (r.options().sections().contains(s)) sections.add(s.label());
        return new Report("suite", r.started().toString(), r.seconds(), r.options().quick(), r.options().threads(), sections,
                r.machine(), r.rows(), r.details(), r.notes(), r.problems());
    }
}
