package org.gpt4llm.bench;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.bench.KernelCases.Case;
import org.gpt4llm.bench.KernelCases.Inputs;
import org.gpt4llm.bench.KernelCases.Shapes;

/**
 * {@code gpt4llm bench kernels}: every kernel of the cuda backend timed alone on a {@link Device}, at
 * the shapes of one LLaMA training step ({@link KernelCases}). Per case: the median time over the
 * samples, the achieved GB/s of memory-bound kernels (bytes read + bytes written, each element
 * once, over the median time) and the TFLOP/s of GEMM-shaped work, which is also set against the
 * device's own GEMM (cuBLAS on a GPU) measured in the same run on a shape of equal FLOPs.
 *
 * <p>On a GPU each sample is timed by CUDA events around enough back-to-back launches to last a
 * millisecond (so launch overhead and event resolution do not dominate small kernels), divided by
 * their number. In the emulation a sample is the wall time of a launch plus a synchronize: it shows
 * that every case runs, and nothing about a GPU's speed.
 */
public final class KernelBench {
    private static final double MIN_SAMPLE_S = 1e-3;
    private static final int MAX_INNER = 1000;

    private KernelBench() {}

    /** What to run: size presets, a substring filter on case names (null: all), warm-up and timed samples per case. */
    public record Options(List<String> sizes, String filter, int warmup, int samples, long seed) {
        public Options {
            if (sizes.isEmpty()) throw new IllegalArgumentException("--sizes names no size");
            sizes.forEach(Shapes::preset);  // an unknown name fails before anything runs
            if (warmup < 0) throw new IllegalArgumentException("--warmup must not be negative, got " + warmup);
            if (samples < 1) throw new IllegalArgumentException("--samples must be positive, got " + samples);
        }
    }

    /**
     * One measured case; {@code vsPeer} is the case's FLOP rate over its peer's (above 1: the case
     * does its work faster than GEMMs would), or with {@code vsTime} the case's time over its peer's
     * (below 1: the case adds that fraction of the peer's time), NaN where it has no peer;
     * {@code peerSeconds} is the peer's median time; {@code error} says why a case could not be
     * measured (null when it was).
     */
    public record Row(String size, String name, double seconds, double gbps, double tflops, double vsPeer, String peer,
                      double peerSeconds, boolean vsTime, String error) {}

    public record Result(String device, String clock, String peerName, String libtorchCuda, Options options,
                         Map<String, String> sizes, List<Row> rows, List<String> formulas) {
        public String toText() {
            StringBuilder b = new StringBuilder();
            b.append(String.format(Locale.ROOT, "bench kernels on %s%n", device));
            b.append(String.format(Locale.ROOT, "timing: %s, median of %d samples after %d warm-up%n", clock,
                    options.samples(), options.warmup()));
            b.append(String.format(Locale.ROOT, "peers: %s for GEMM-shaped work; libtorch CUDA: %s%n", peerName, libtorchCuda));
            for (var size : sizes.entrySet()) {
                b.append(String.format(Locale.ROOT, "%nsize %s: %s%n", size.getKey(), size.getValue()));
                b.append(String.format(Locale.ROOT, "  %-52s %11s %9s %9s  %s%n", "kernel", "time", "GB/s", "TFLOP/s",
                        "vs " + peerName));
                for (Row r : rows) {
                    if (!r.size().equals(size.getKey())) continue;
                    if (r.error() != null) {
                        b.append(String.format(Locale.ROOT, "  %-52s FAILED: %s%n", r.name(), r.error()));
                        continue;
                    }
                    b.append(String.format(Locale.ROOT, "  %-52s %11s %9s %9s  %s%n", r.name(), time(r.seconds()),
                            r.gbps() > 0 ? String.format(Locale.ROOT, "%.3g", r.gbps()) : "-",
                            r.tflops() > 0 ? String.format(Locale.ROOT, "%.3g", r.tflops()) : "-",
                            Double.isNaN(r.vsPeer()) ? "-"
                                    : r.vsTime() ? String.format(Locale.ROOT, "%.2fx the time of %s (%s)", r.vsPeer(),
                                            r.peer(), time(r.peerSeconds()))
                                    : String.format(Locale.ROOT, "%.2fx (%s)", r.vsPeer(), r.peer())));
                }
            }
            b.append(String.format(Locale.ROOT, "%nwork counted:%n"));
            for (String f : formulas) b.append("  ").append(f).append(System.lineSeparator());
            b.append(String.format(Locale.ROOT, "  vs %s: the case's TFLOP/s over those of the GEMMs named (bf16 in, fp32 "
                    + "accumulation), measured in this run; above 1: the kernel does its work faster than they would; "
                    + "\"the time of\": the case's time over that of the work named, measured in this run%n", peerName));
            if (failures() > 0) b.append(String.format(Locale.ROOT, "%n%d of %d cases FAILED%n", failures(), rows.size()));
            return b.toString();
        }

        public long failures() {
            return rows.stream().filter(r -> r.error() != null).count();
        }

        private static String time(double s) {
            return s >= 1e-3 ? String.format(Locale.ROOT, "%.3f ms", s * 1e3) : String.format(Locale.ROOT, "%.2f us", s * 1e6);
        }

        /** The JSON report of {@code bench kernels --json}. */
        public Report report() {
            return new Report("kernels", device, clock, peerName, libtorchCuda, options.samples(), options.warmup(), sizes,
                    rows.stream().map(Report.Kernel::of).toList(), formulas);
        }

        public void writeJson(Path file) throws IOException {
            StepBench.writeJson(file, report());
        }
    }

    /**
     * The JSON of a run: {@code peer} names the GEMM the cases are set against, {@code sizes} describes
     * each size preset by name, {@code formulas} says how work is counted.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Report(String bench, String device, String clock, String peer, String libtorchCuda, int samples,
                         int warmup, Map<String, String> sizes, List<Kernel> kernels, List<String> formulas) {
        /**
         * One case: the {@code error} that stopped it, or its median time with the GB/s and TFLOP/s it
         * reached (where it moves bytes or does FLOPs) and, where it has a {@code peer}, the peer's
         * median time and the ratio to it, {@code vsPeerOf} saying of what ("flop rate" or "time").
         */
        @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
        @JsonInclude(JsonInclude.Include.NON_NULL)
        public record Kernel(String size, String kernel, String error, Double medianS, Double gbPerS, Double tflopPerS,
                             Double vsPeer, String vsPeerOf, String peer, Double peerMedianS) {
            static Kernel of(Row r) {
                if (r.error() != null) return new Kernel(r.size(), r.name(), r.error(), null, null, null, null, null, null, null);
                boolean peered = !Double.isNaN(r.vsPeer());
                return new Kernel(r.size(), r.name(), null, r.seconds(), r.gbps() > 0 ? r.gbps() : null,
                        r.tflops() > 0 ? r.tflops() : null, peered ? r.vsPeer() : null,
                        peered ? (r.vsTime() ? "time" : "flop rate") : null, peered ? r.peer() : null,
                        peered ? r.peerSeconds() : null);
            }
        }
    }

    /** Seconds of GPU (or wall) time that the work a body queues takes. */
    @FunctionalInterface
    interface Clock {
        double seconds(Runnable body);
    }

    public static Result run(Device device, Options o, PrintStream progress) {
        boolean gpu = device instanceof CudaDevice;
        Clock clock = gpu ? body -> ((CudaDevice) device).timeMillis(body) / 1e3 : body -> {
            long t0 = System.nanoTime();
            body.run();
            device.synchronize();
            return (System.nanoTime() - t0) / 1e9;
        };
        String clockName = gpu ? "CUDA events on the stream, each sample averaged over back-to-back launches lasting >= 1 ms"
                : "wall clock of launch + synchronize (emulation: shows the cases run, says nothing of GPU speed)";
        String peerName = gpu ? "cuBLAS" : "Device.gemm";
        List<Row> rows = new ArrayList<>();
        Map<String, String> sizes = new LinkedHashMap<>();
        LinkedHashSet<String> formulas = new LinkedHashSet<>();
        SplittableRandom rng = new SplittableRandom(o.seed());
        for (String sizeName : o.sizes()) {
            Shapes s = Shapes.preset(sizeName);
            sizes.put(s.name(), s.describe());
            // device tensors are freed when this arena closes, before the caller closes the device
            try (Arena arena = Arena.ofConfined()) {
                Inputs in = new Inputs(device, arena, rng.split());
                try {
                    Map<String, Double> peerSeconds = new LinkedHashMap<>();
                    for (KernelCases.Family family : KernelCases.FAMILIES) {
                        for (Case c : family.cases(s, in)) {
                            if (o.filter() != null && !c.name().contains(o.filter())) continue;
                            Row r = measure(s.name(), c, clock, o, peerSeconds);
                            rows.add(r);
                            formulas.add(c.formula());
                            if (progress != null) {
                                progress.printf(Locale.ROOT, "%s %s: %s%n", s.name(), c.name(), r.error() != null
                                        ? "FAILED: " + r.error() : String.format(Locale.ROOT, "%.4g ms", r.seconds() * 1e3));
                            }
                        }
                    }
                } finally {
                    closeAll(in.owned());
                }
            }
        }
        return new Result(device.describe(), clockName, peerName, libtorchCuda(), o, sizes, rows, List.copyOf(formulas));
    }

    /**
     * Times one case and its peer (each peer once per size). A case that fails (a launcher's check,
     * a CUDA error) becomes a row with the error, so the other cases are still measured.
     */
    private static Row measure(String size, Case c, Clock clock, Options o, Map<String, Double> peerSeconds) {
        String peer = c.peer() == null ? null : c.peer().label();
        boolean byTime = c.peer() != null && c.peer().byTime();
        try {
            double sec = median(clock, c.launch(), o.warmup(), o.samples());
            double vs = Double.NaN, peerSec = Double.NaN;
            if (c.peer() != null) {
                peerSec = peerSeconds.computeIfAbsent(peer, l -> median(clock, c.peer().launch(), o.warmup(), o.samples()));
                vs = byTime ? sec / peerSec : (c.flops() / sec) / (c.peer().flops() / peerSec);
            }
            return new Row(size, c.name(), sec, c.bytes() / sec / 1e9, c.flops() / sec / 1e12, vs, peer, peerSec, byTime, null);
        } catch (RuntimeException e) {
            String why = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
            return new Row(size, c.name(), Double.NaN, 0, 0, Double.NaN, peer, Double.NaN, byTime, why);
        }
    }

    /** Closes what the families of one size opened, last first; the first failure is thrown after all are closed. */
    private static void closeAll(List<AutoCloseable> owned) {
        RuntimeException failure = null;
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                if (failure == null) failure = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                else failure.addSuppressed(e);
            }
        }
        if (failure != null) throw failure;
    }

    /** Median seconds per launch. */
    static double median(Clock clock, Runnable launch, int warmup, int samples) {
        for (int i = 0; i < warmup; i++) clock.seconds(launch);
        double once = clock.seconds(launch);
        int inner = (int) Math.min(MAX_INNER, Math.max(1, Math.ceil(MIN_SAMPLE_S / Math.max(once, 1e-9))));
        Runnable batch = inner == 1 ? launch : () -> {
            for (int i = 0; i < inner; i++) launch.run();
        };
        double[] t = new double[samples];
        for (int i = 0; i < samples; i++) t[i] = clock.seconds(batch) / inner;
        return StepBench.median(t);
    }

    /** The org.bytedeco:pytorch on the class path is the CPU build, so this says so unless it finds a GPU. */
    private static String libtorchCuda() {
        try {
            return org.bytedeco.pytorch.global.torch.cuda_is_available()
                    ? "present, but not measured (no libtorch CUDA cases are written yet)"
                    : "not available (the org.bytedeco:pytorch build on the class path is CPU-only)";
        } catch (Throwable t) {
            return "not available (libtorch did not load: " + t.getMessage() + ")";
        }
    }

    /** "1b, 7b" as a list of size names. */
    public static List<String> parseSizes(String csv) {
        return Arrays.stream(csv.split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList();
    }
}
