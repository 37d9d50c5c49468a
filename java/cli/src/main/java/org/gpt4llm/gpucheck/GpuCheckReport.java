package org.gpt4llm.gpucheck;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.gpt4llm.bench.KernelBench;
import org.gpt4llm.bench.StepBench;
import org.gpt4llm.io.JsonFiles;

/**
 * The end of bin/gpu-check: one table and one JSON over everything the check ran. A line per test
 * class (from surefire's reports, with the worst error the class measured against its bound, from
 * {@code -Dgpt4llm.measurements}), a line per benchmark (from its JSON report), the build and the
 * device. Every family of {@link GpuChecks#TESTS} must have run; a line fails when a test failed, when
 * nothing of it ran (unless every test skipped in a family that {@linkplain GpuChecks.Tests#needs needs} a
 * library the machine lacks: that line says skipped, and why), or when a benchmark failed or left no
 * report. The check passes when every line does.
 */
public final class GpuCheckReport {
    private GpuCheckReport() {}

    /** What the script hands over; {@code parts} is its TSV of each step's name, exit status, seconds and log file. */
    public record Inputs(Path parts, Path device, List<Path> surefire, Path measurements, Path benchKernels,
                         Path benchStep) {}

    /** The device the check ran on, as {@code gpt4llm gpu-check device} writes it. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record DeviceInfo(String description, String kernelImage, String driverCuda) {}

    /** One line of a {@code -Dgpt4llm.measurements} file (org.gpt4llm.testing.Measurements writes them). */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Measured(String testClass, String check, String target, double value, Double limit) {
        double severity() {
            return limit != null && limit > 0 ? value / limit : value;
        }

        String describe() {
            return String.format(Locale.ROOT, "%s %.2e%s on %s", check, value,
                    limit == null ? "" : String.format(Locale.ROOT, " (bound %.0e)", limit), target);
        }
    }

    /** One step of the script: its exit status, wall seconds and log file. */
    public record Part(String name, int exit, double seconds, String log) {}

    /**
     * One line of the table: what was checked, against what, whether it passed, the worst error or the
     * figure measured (or why it failed), its seconds (null where unknown), the {@code gpt4llm.targets}
     * the tests ran with (null: every backend present), and each test that did not pass.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Line(String check, String compares, boolean ok, String result, String detail, Double seconds,
                       String targets, List<SurefireSuites.Problem> problems) {}

    /** The whole check: passed when every line did; {@code seconds} is the script's wall time. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Report(boolean ok, String device, int failedLines, double seconds, List<Line> lines) {}

    /** The step names the script writes into its parts file. */
    public static final String BUILD = "build", DEVICE = "device", TESTS = "tests", BENCH_KERNELS = "bench kernels",
            BENCH_STEP = "bench step";

    private static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public static Report build(Inputs in) throws IOException {
        Map<String, Part> parts = readParts(in.parts());
        List<Line> lines = new ArrayList<>();
        Part build = parts.get(BUILD);
        if (build != null) {
            lines.add(new Line("build", "engine, CPU kernels and fatbin (nvcc) compiled", build.exit() == 0,
                    result(build.exit() == 0), build.exit() == 0 ? "" : "exit " + build.exit() + ", see " + build.log(),
                    build.seconds(), null, List.of()));
        }
        String device = null;
        Part devicePart = parts.get(DEVICE);
        if (Files.isRegularFile(in.device())) {
            DeviceInfo d = JsonFiles.read(JSON, in.device(), DeviceInfo.class);
            device = d.description();
            lines.add(new Line("device", "GPU 0 opened and the fatbin loaded", true, result(true),
                    d.description() + "; driver for CUDA " + d.driverCuda() + "; kernels: " + d.kernelImage(),
                    devicePart == null ? null : devicePart.seconds(), null, List.of()));
        } else {
            lines.add(new Line("device", "GPU 0 opened and the fatbin loaded", false, "FAIL",
                    "no device report " + in.device() + (devicePart == null ? "" : ", see " + devicePart.log()),
                    devicePart == null ? null : devicePart.seconds(), null, List.of()));
        }
        lines.addAll(testLines(in, parts.get(TESTS)));
        lines.add(kernelsLine(in.benchKernels(), parts.get(BENCH_KERNELS)));
        lines.add(stepLine(in.benchStep(), parts.get(BENCH_STEP)));
        int failed = (int) lines.stream().filter(l -> !l.ok()).count();
        double total = parts.values().stream().mapToDouble(Part::seconds).sum();
        return new Report(failed == 0, device, failed, total, lines);
    }

    private static String result(boolean ok) {
        return ok ? "pass" : "FAIL";
    }

    /** A line per test class the reports hold, in the order of {@link GpuChecks#TESTS}; a family that ran nothing fails. */
    private static List<Line> testLines(Inputs in, Part testsPart) throws IOException {
        List<SurefireSuites.Suite> suites = SurefireSuites.read(in.surefire());
        Map<String, Measured> worst = worstMeasured(in.measurements());
        List<Line> out = new ArrayList<>();
        if (testsPart != null && testsPart.exit() != 0) {
            // test failures do not stop the build (maven.test.failure.ignore): this is a compile error or a lost JVM
            out.add(new Line("tests", "the test run itself", false, "FAIL", "mvn exited " + testsPart.exit() + ", see "
                    + testsPart.log(), testsPart.seconds(), null, List.of()));
        }
        for (GpuChecks.Tests family : GpuChecks.TESTS) {
            List<SurefireSuites.Suite> mine = suites.stream()
                    .filter(s -> GpuChecks.familyOf(s.simpleName()).orElse(null) == family).toList();
            if (mine.isEmpty()) {
                String what = family.wildcard() ? "no class matching " + family.pattern() : family.pattern();
                out.add(new Line(family.name().replace(" %s", "").replace("%s", ""), family.compares(), false, "FAIL",
                        "did not run: " + what + " has no surefire report", null, null, List.of()));
                continue;
            }
            for (SurefireSuites.Suite s : mine) out.add(suiteLine(family, s, worst.get(s.name())));
        }
        return out;
    }

    private static Line suiteLine(GpuChecks.Tests family, SurefireSuites.Suite s, Measured worst) {
        String name = family.nameOf(s.simpleName()).orElseThrow();
        String result;
        String detail;
        if (!s.problems().isEmpty() || s.failures() + s.errors() > 0) {
            result = String.format(Locale.ROOT, "FAIL %d of %d", s.failures() + s.errors(), s.executed());
            detail = s.problems().isEmpty() ? "" : s.problems().get(0).test() + ": " + s.problems().get(0).message();
        } else if (s.executed() == 0 && s.tests() > 0 && family.needs() != null) {
            // a machine without the family's library: said, not failed
            return new Line(name, family.compares(), true, "skipped", "needs " + family.needs() + " and a GPU: "
                    + (s.skipReason() == null ? "every test was skipped" : s.skipReason()), s.seconds(), s.targets(),
                    s.problems());
        } else if (s.executed() == 0) {
            result = "FAIL";
            detail = s.tests() == 0 ? "no test ran" : "every test was skipped (" + s.tests() + ")";
        } else {
            String skipped = s.skipped() > 0 ? " (" + s.skipped() + " skipped)" : "";
            result = String.format(Locale.ROOT, "pass %d%s", s.executed(), skipped);
            detail = worst == null ? "exact checks" : "worst: " + worst.describe();
        }
        return new Line(name, family.compares(), s.passed() && s.problems().isEmpty(), result, detail, s.seconds(),
                s.targets(), s.problems());
    }

    /** The worst measurement of each test class (by how close it came to its bound). */
    static Map<String, Measured> worstMeasured(Path file) throws IOException {
        Map<String, Measured> worst = new LinkedHashMap<>();
        if (file == null || !Files.isRegularFile(file)) return worst;
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            Measured m;
            try {
                m = JSON.readValue(lines.get(i), Measured.class);
            } catch (IOException e) {
                throw new IOException(file + " line " + (i + 1) + " is not a measurement: " + e.getMessage(), e);
            }
            if (m.testClass() == null || m.check() == null) {
                throw new IOException(file + " line " + (i + 1) + " has no test_class or check");
            }
            worst.merge(m.testClass(), m, (a, b) -> Double.compare(b.severity(), a.severity()) > 0 ? b : a);
        }
        return worst;
    }

    private static Line kernelsLine(Path file, Part part) throws IOException {
        String check = "bench kernels", compares = GpuChecks.BENCH_KERNELS;
        Double seconds = part == null ? null : part.seconds();
        Optional<String> missing = missing(file, part, check);
        if (missing.isPresent()) return failed(check, compares, missing.get(), seconds);
        KernelBench.Report r = JsonFiles.read(JSON, file, KernelBench.Report.class);
        List<KernelBench.Report.Kernel> kernels = r.kernels() == null ? List.of() : r.kernels();
        List<KernelBench.Report.Kernel> errors = kernels.stream().filter(k -> k.error() != null).toList();
        if (kernels.isEmpty()) return failed(check, compares, "no case was timed", seconds);
        if (!errors.isEmpty()) {
            return failed(check, compares, errors.size() + " of " + kernels.size() + " cases failed, first "
                    + errors.get(0).kernel() + ": " + errors.get(0).error(), seconds);
        }
        StringBuilder detail = new StringBuilder(kernels.size() + " cases");
        kernels.stream().filter(k -> k.tflopPerS() != null).max(Comparator.comparingDouble(KernelBench.Report.Kernel::tflopPerS))
                .ifPresent(k -> detail.append(String.format(Locale.ROOT, "; best %.1f TFLOP/s (%s %s)", k.tflopPerS(), k.size(),
                        k.kernel())));
        kernels.stream().filter(k -> k.gbPerS() != null).max(Comparator.comparingDouble(KernelBench.Report.Kernel::gbPerS))
                .ifPresent(k -> detail.append(String.format(Locale.ROOT, "; best %.0f GB/s (%s %s)", k.gbPerS(), k.size(),
                        k.kernel())));
        return new Line(check, compares, true, "pass", detail.toString(), seconds, null, List.of());
    }

    private static Line stepLine(Path file, Part part) throws IOException {
        String check = "bench step", compares = GpuChecks.BENCH_STEP;
        Double seconds = part == null ? null : part.seconds();
        Optional<String> missing = missing(file, part, check);
        if (missing.isPresent()) return failed(check, compares, missing.get(), seconds);
        StepBench.Report r = JsonFiles.read(JSON, file, StepBench.Report.class);
        StepBench.Report.Side ours = r.ours();
        if (ours == null) return failed(check, compares, file + " has no \"ours\" side", seconds);
        if (!(ours.medianStepS() > 0) || !Float.isFinite(ours.firstLoss())) {
            return failed(check, compares, "median step " + ours.medianStepS() + " s, first loss " + ours.firstLoss(), seconds);
        }
        String detail = String.format(Locale.ROOT, "llama %s, batch %d x %d: median step %.4f s, %,.0f tokens/s, %.1f model "
                + "TFLOP/s; first loss %.3f", r.preset(), r.batch(), r.seq(), ours.medianStepS(), ours.tokensPerS(),
                ours.gflops() / 1e3, ours.firstLoss());
        return new Line(check, compares, true, "pass", detail, seconds, null, List.of());
    }

    private static Line failed(String check, String compares, String why, Double seconds) {
        return new Line(check, compares, false, "FAIL", why, seconds, null, List.of());
    }

    /** Why a benchmark's report cannot be read: its step failed or it wrote none. */
    private static Optional<String> missing(Path file, Part part, String what) {
        if (part != null && part.exit() != 0) return Optional.of(what + " exited " + part.exit() + ", see " + part.log());
        if (!Files.isRegularFile(file)) {
            return Optional.of("no report " + file + (part == null ? " (it did not run)" : ", see " + part.log()));
        }
        return Optional.empty();
    }

    /** The parts file: a line per step, {@code name TAB exit TAB seconds TAB log}. */
    static Map<String, Part> readParts(Path file) throws IOException {
        Map<String, Part> parts = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            String[] f = lines.get(i).split("\t", -1);
            try {
                if (f.length != 4) throw new NumberFormatException("4 tab-separated fields expected, found " + f.length);
                parts.put(f[0], new Part(f[0], Integer.parseInt(f[1]), Double.parseDouble(f[2]), f[3]));
            } catch (NumberFormatException e) {
                throw new IOException(file + " line " + (i + 1) + " is not \"name<TAB>exit<TAB>seconds<TAB>log\": "
                        + e.getMessage());
            }
        }
        return parts;
    }

    /** The table: a row per line, columns padded to their widest cell, and a last row with the verdict. */
    public static String table(Report r) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"check", "compares", "result", "worst error / figure", "time"});
        for (Line l : r.lines()) {
            rows.add(new String[] {l.check(), l.compares(), l.result(), l.detail(),
                    l.seconds() == null ? "-" : String.format(Locale.ROOT, "%.1f s", l.seconds())});
        }
        int[] width = new int[5];
        for (String[] row : rows) for (int c = 0; c < 5; c++) width[c] = Math.max(width[c], row[c].length());
        width[3] = Math.min(width[3], 100);  // a failure's message can be long: the JSON keeps all of it
        String format = "%-" + width[0] + "s | %-" + width[1] + "s | %-" + width[2] + "s | %-" + width[3] + "s | %s%n";
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < rows.size(); i++) {
            String[] row = rows.get(i);
            b.append(String.format(Locale.ROOT, format, row[0], row[1], row[2], clip(row[3], width[3]), row[4]));
            if (i == 0) {
                b.append(String.format(Locale.ROOT, format, "-".repeat(width[0]), "-".repeat(width[1]), "-".repeat(width[2]),
                        "-".repeat(width[3]), "-".repeat(4)).replace(" | ", "-|-"));
            }
        }
        String verdict = r.ok() ? "every line passed" : r.failedLines() + " of " + r.lines().size() + " lines FAILED";
        b.append(String.format(Locale.ROOT, "%ngpu-check: %s on %s in %.0f s%n", verdict, r.device() == null ? "no device"
                : r.device(), r.seconds()));
        return b.toString();
    }

    private static String clip(String s, int width) {
        return s.length() <= width ? s : s.substring(0, width - 3) + "...";
    }
}
