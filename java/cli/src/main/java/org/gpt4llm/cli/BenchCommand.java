package org.gpt4llm.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.EnumSet;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.bench.BenchSuite;
import org.gpt4llm.bench.GenerateBench;
import org.gpt4llm.bench.JmhBench;
import org.gpt4llm.bench.KernelBench;
import org.gpt4llm.bench.ParallelStepBench;
import org.gpt4llm.bench.StepBench;
import org.gpt4llm.datagen.bench.TeacherBench;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.model.LoraConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm bench}: side-by-side performance against a peer measured in the same run. Without a
 * subcommand it runs the whole suite ({@link BenchSuite}) and prints one table; the subcommands run
 * one benchmark each with all its settings.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Side-by-side performance: our engine against a peer, measured in one run.",
                "Without a subcommand: the whole suite (ceilings, CPU kernels, training step, generation, data"
                        + " collection, JMH), one table, and a JSON file."},
        subcommands = {BenchCommand.Step.class, BenchCommand.Kernels.class, BenchCommand.Generate.class,
                BenchCommand.Datagen.class, BenchCommand.Jmh.class})
public final class BenchCommand implements Callable<Integer> {
    @Option(names = "--json", description = "where to write the JSON (default: runs/bench/bench-<UTC time>.json)")
    Path json;

    @Option(names = "--only", description = "run only these sections, comma-separated: ceilings, kernels, step,"
            + " generate, datagen, jvm")
    String only;

    @Option(names = "--skip", description = "skip these sections, comma-separated")
    String skip;

    @Option(names = "--quick", description = "tiny sizes and one or two repetitions: checks that everything runs;"
            + " the numbers mean little")
    boolean quick;

    @Mixin
    ThreadsFlag threads = new ThreadsFlag();

    @Option(names = "--tokenizer", description = "tokenizer folder of the JMH tokenizer benchmark "
            + "(default: shared/models/llama2-tokenizer next to the project; skipped when absent)")
    Path tokenizer;

    @Option(names = "--seed", defaultValue = "0", description = "data and weights seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--quiet", description = "print only the table, not the progress (which goes to stderr)")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        EnumSet<BenchSuite.Section> sections = only == null ? EnumSet.allOf(BenchSuite.Section.class)
                : BenchSuite.Section.parse(only, "--only");
        if (skip != null) sections.removeAll(BenchSuite.Section.parse(skip, "--skip"));
        if (tokenizer != null && !Files.isRegularFile(tokenizer.resolve("tokenizer.json"))) {
            throw new IllegalArgumentException("--tokenizer " + tokenizer + " has no tokenizer.json");
        }
        BenchSuite.Options o = new BenchSuite.Options(sections, quick, threads.count(),
                tokenizer != null ? tokenizer.toAbsolutePath() : JmhBench.defaultTokenizer(), seed);
        Path out = json != null ? json : Path.of("runs", "bench", "bench-" + DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
                .withZone(ZoneOffset.UTC).format(Instant.now()) + ".json");
        BenchSuite.Result r = BenchSuite.run(o, quiet ? null : System.err);
        System.out.print(BenchSuite.table(r));
        Path abs = out.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        AtomicFiles.writeJson(abs, BenchSuite.report(r));
        System.out.println("wrote " + out);
        return r.problems().isEmpty() ? 0 : 1;
    }

    @Command(name = "jmh", mixinStandardHelpOptions = true,
            description = "The Java-side micro-benchmarks (org.gpt4llm.bench.jmh: sampler, tokenizer, ROUGE-L, JSONL"
                    + " records, rate limiter) through JMH, each in a forked JVM with this one's class path.")
    static final class Jmh implements Callable<Integer> {
        @Option(names = "--include", description = "only benchmarks whose full name matches this regex, e.g. Rouge")
        String include;

        @Option(names = "--quick", description = "1 warmup and 2 measured iterations of 100 ms (rough numbers)")
        boolean quick;

        @Option(names = "--forks", defaultValue = "1", description = "JVM forks per benchmark; 0 runs in this JVM (default: ${DEFAULT-VALUE})")
        int forks;

        @Option(names = "--tokenizer", description = "tokenizer folder of the tokenizer benchmark "
                + "(default: shared/models/llama2-tokenizer next to the project; skipped when absent)")
        Path tokenizer;

        @Option(names = "--json", description = "also write the results to this JSON file")
        Path json;

        @Option(names = "--quiet", description = "print only the results, not JMH's progress")
        boolean quiet;

        @Override
        public Integer call() throws Exception {
            if (tokenizer != null && !Files.isRegularFile(tokenizer.resolve("tokenizer.json"))) {
                throw new IllegalArgumentException("--tokenizer " + tokenizer + " has no tokenizer.json");
            }
            if (include != null) {
                try {
                    java.util.regex.Pattern.compile(include);
                } catch (java.util.regex.PatternSyntaxException e) {
                    throw new IllegalArgumentException("--include " + include + " is not a regular expression: "
                            + e.getDescription());
                }
            }
            Path tok = tokenizer != null ? tokenizer.toAbsolutePath() : JmhBench.defaultTokenizer();
            JmhBench.Options d = quick ? JmhBench.Options.quick(include, tok) : JmhBench.Options.standard(include, tok);
            JmhBench.Options o = new JmhBench.Options(d.include(), d.warmups(), d.measurements(), d.iterationMs(), forks, tok);
            JmhBench.Result r = JmhBench.run(o, quiet ? null : System.err);
            System.out.print(JmhBench.toText(r));
            if (json != null) AtomicFiles.writeJson(json.toAbsolutePath(), r.report());
            return 0;
        }
    }


    @Command(name = "step", mixinStandardHelpOptions = true,
            description = "Time one training step (forward, backward, AdamW) of a random-init LLaMA in one of our "
                    + "backends and in a peer (libtorch next to cpu, our cpu backend next to cuda or cuda-emu), with "
                    + "identical weights, batch and thread count.")
    static final class Step implements Callable<Integer> {
        @Option(names = "--preset", defaultValue = "small", description = "model size: tiny, small or 7b (default: ${DEFAULT-VALUE})")
        String preset;

        @Option(names = "--compare", description = "peer: libtorch (only next to --backend cpu), cpu (next to cuda or"
                + " cuda-emu) or none (default: libtorch with --backend cpu, else cpu)")
        String compare;

        @Mixin
        BackendFlags backend = new BackendFlags();

        @Option(names = "--vocab", defaultValue = "32000", description = "vocabulary size (default: ${DEFAULT-VALUE})")
        int vocab;

        @Option(names = "--batch", defaultValue = "4", description = "sequences per step (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--seq", defaultValue = "256", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
        int seq;

        @Option(names = "--steps", defaultValue = "5", description = "timed steps per side (default: ${DEFAULT-VALUE})")
        int steps;

        @Option(names = "--warmup", defaultValue = "1", description = "untimed steps first (default: ${DEFAULT-VALUE})")
        int warmup;

        @Option(names = "--seed", defaultValue = "0", description = "weights and batch seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--json", description = "also write the numbers to this JSON file")
        Path json;

        @Option(names = "--quiet", description = "print only the report, not each step")
        boolean quiet;

        @Option(names = "--lora-rank", defaultValue = "0",
                description = "time a LoRA step of this rank instead of full fine-tuning (0: full) (default: ${DEFAULT-VALUE})")
        int loraRank;

        @Option(names = "--lora-targets", defaultValue = "q_proj,v_proj",
                description = "linear layers with an adapter (default: ${DEFAULT-VALUE})")
        String loraTargets;

        @Option(names = "--cuda-graph", description = "cuda backends: replay our step from a CUDA graph captured in step 2")
        boolean cudaGraph;

        @Option(names = "--gpus", defaultValue = "1", description = "devices of the backend in a data-parallel step, each"
                + " taking --batch rows: prints each rank's measured communication next to the planned (default: ${DEFAULT-VALUE})")
        int gpus;

        @Option(names = "--zero", defaultValue = "0", description = "ZeRO stage of the data-parallel step with --gpus"
                + " (default: ${DEFAULT-VALUE})")
        int zero;

        @Override
        public Integer call() throws Exception {
            String name = backend.name().toLowerCase(Locale.ROOT);
            if (gpus > 1) return callParallel(name);
            if (gpus < 1) throw new IllegalArgumentException("--gpus must be at least 1, got " + gpus);
            StepBench.Peer peer = compare == null ? StepBench.Peer.defaultFor(name) : StepBench.Peer.parse(compare);
            StepBench.Options o = new StepBench.Options(preset, vocab, batch, seq, backend.threads(), steps, warmup, seed,
                    peer, StepBench.Options.defaults().lr(), StepBench.Options.defaults().maxGradNorm(), name, lora(),
                    cudaGraph);
            StepBench.Result r = StepBench.run(o, quiet ? null : System.out);
            System.out.print(r.toText());
            if (json != null) {
                r.writeJson(json);
                System.out.println("wrote " + json);
            }
            return 0;
        }

        /** The data-parallel step of --gpus devices, timed alone. */
        private int callParallel(String name) throws java.io.IOException {
            if (compare != null && !compare.equalsIgnoreCase("none")) {
                throw new IllegalArgumentException("--compare " + compare + " does not apply with --gpus " + gpus
                        + " (the data-parallel step is timed alone): leave it out");
            }
            if (cudaGraph) throw new IllegalArgumentException("--cuda-graph does not apply with --gpus " + gpus
                    + ": steps over several devices run without a graph");
            ParallelStepBench.Report r = ParallelStepBench.run(new ParallelStepBench.Options(preset, vocab, batch, seq,
                    backend.threads(), steps, warmup, seed, name, lora(), gpus, zero), quiet ? null : System.out);
            System.out.print(r.toText());
            if (json != null) {
                r.writeJson(json);
                System.out.println("wrote " + json);
            }
            return 0;
        }

        /** alpha = 2r, as Alpaca-LoRA; no dropout, so both sides compute exactly the same step. */
        private LoraConfig lora() {
            if (loraRank < 0) throw new IllegalArgumentException("--lora-rank must not be negative, got " + loraRank);
            return loraRank == 0 ? null : new LoraConfig(loraRank, 2f * loraRank, 0f, LoraConfig.parseTargets(loraTargets));
        }
    }

    @Command(name = "kernels", mixinStandardHelpOptions = true,
            description = "Time each CUDA kernel alone at the shapes of a LLaMA training step: median time, achieved "
                    + "GB/s or TFLOP/s, and the ratio to cuBLAS doing the same work for GEMM-shaped kernels. Needs an "
                    + "NVIDIA GPU; --backend cuda-emu runs every case in the emulation instead (it shows that the "
                    + "cases run; its times say nothing of a GPU).")
    static final class Kernels implements Callable<Integer> {
        @Option(names = "--backend", defaultValue = "cuda", description = "cuda or cuda-emu (default: ${DEFAULT-VALUE})")
        String backend;

        @Option(names = "--device", defaultValue = "0", description = "GPU ordinal (default: ${DEFAULT-VALUE})")
        int device;

        @Option(names = "--sizes", description = "comma-separated LLaMA sizes: tiny, 1b (TinyLlama), 7b "
                + "(default: 1b,7b on cuda, tiny on cuda-emu)")
        String sizes;

        @Option(names = "--kernels", description = "only the cases whose name contains this text, e.g. gemm")
        String filter;

        @Option(names = "--samples", description = "timed samples per case (default: 20 on cuda, 3 on cuda-emu)")
        Integer samples;

        @Option(names = "--warmup", description = "untimed runs first (default: 3 on cuda, 1 on cuda-emu)")
        Integer warmup;

        @Option(names = "--seed", defaultValue = "0", description = "input data seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--json", description = "also write the numbers to this JSON file")
        Path json;

        @Option(names = "--quiet", description = "print only the report, not each case as it is timed")
        boolean quiet;

        @Override
        public Integer call() throws Exception {
            boolean emu = switch (backend.toLowerCase(Locale.ROOT)) {
                case "cuda" -> false;
                case "cuda-emu" -> true;
                case "cpu" -> throw new IllegalArgumentException("--backend cpu has no CUDA kernels to time; "
                        + "`gpt4llm bench step` measures the CPU backend");
                default -> throw new IllegalArgumentException("--backend " + backend + " is not cuda or cuda-emu");
            };
            KernelBench.Options o = new KernelBench.Options(
                    KernelBench.parseSizes(sizes != null ? sizes : emu ? "tiny" : "1b,7b"), filter,
                    warmup != null ? warmup : emu ? 1 : 3, samples != null ? samples : emu ? 3 : 20, seed);
            try (Device d = emu ? new EmuDevice() : CudaDevice.open(device)) {
                KernelBench.Result r = KernelBench.run(d, o, quiet ? null : System.out);
                System.out.print(r.toText());
                if (json != null) {
                    r.writeJson(json);
                    System.out.println("wrote " + json);
                }
                return r.failures() == 0 ? 0 : 1;
            }
        }
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Greedy decoding with a KV cache, tokens/s at each batch size: our engine against libtorch's"
                    + " decode loop of the same random-init LLaMA, same thread count, in one run.")
    static final class Generate implements Callable<Integer> {
        @Option(names = "--preset", defaultValue = "small", description = "model size: tiny, small or 7b (default: ${DEFAULT-VALUE})")
        String preset;

        @Option(names = "--vocab", defaultValue = "32000", description = "vocabulary size (default: ${DEFAULT-VALUE})")
        int vocab;

        @Option(names = "--batches", split = ",", defaultValue = "1,8", description = "batch sizes (default: ${DEFAULT-VALUE})")
        int[] batches;

        @Option(names = "--prompt-len", defaultValue = "32", description = "prompt tokens per row (default: ${DEFAULT-VALUE})")
        int promptLen;

        @Option(names = "--new-tokens", defaultValue = "64", description = "tokens generated per row (default: ${DEFAULT-VALUE})")
        int newTokens;

        @Option(names = "--repeats", defaultValue = "3", description = "runs per side and batch, the fastest kept (default: ${DEFAULT-VALUE})")
        int repeats;

        @Option(names = "--compare", defaultValue = "libtorch", description = "peer: libtorch, none, or (with a half"
                + " --dtype) f32: our engine with fp32 weights (default: ${DEFAULT-VALUE})")
        String compare;

        @Mixin
        BackendFlags backend = new BackendFlags();

        @Option(names = "--dtype", description = "our weights kept in f32, bf16 or f16 (default: the backend's own;"
                + " a half type is compared against the same weights in fp32)")
        String dtype;

        @Option(names = "--seed", defaultValue = "0", description = "weights and prompts seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--json", description = "also write the numbers to this JSON file")
        Path json;

        @Option(names = "--quiet", description = "print only the report, not each run")
        boolean quiet;

        @Override
        public Integer call() throws Exception {
            GenerateBench.Peer peer = GenerateBench.Peer.parse(compare);
            GenerateBench.Options o = new GenerateBench.Options(batches, promptLen, newTokens, repeats, seed);
            GenerateBench.Result r = GenerateBench.runLlama(o, preset, vocab, backend.name(), backend.threads(),
                    dtype == null ? null : WeightTypeFlag.parse("--dtype", dtype), peer, Double.NaN, quiet ? null : System.out);
            System.out.print(r.toText());
            if (json != null) AtomicFiles.writeJson(json, r.report());
            return 0;
        }
    }

    @Command(name = "datagen", mixinStandardHelpOptions = true,
            description = "Data-collection throughput against a local stand-in for the teacher API with a fixed latency:"
                    + " requests/s at each concurrency, and the most requests the server saw in any window against the"
                    + " client's rate limit (which must never be exceeded).")
    static final class Datagen implements Callable<Integer> {
        @Option(names = "--requests", defaultValue = "300", description = "requests per concurrency level (default: ${DEFAULT-VALUE})")
        int requests;

        @Option(names = "--latency-ms", defaultValue = "100", description = "the server's latency per request (default: ${DEFAULT-VALUE})")
        long latencyMs;

        @Option(names = "--limit", defaultValue = "300", description = "requests allowed per window, 0 for none (default: ${DEFAULT-VALUE})")
        int limit;

        @Option(names = "--window-s", defaultValue = "5", description = "the rate limit's window in seconds (default: ${DEFAULT-VALUE})")
        double windowS;

        @Option(names = "--concurrency", split = ",", defaultValue = "1,2,4,8,16,32",
                description = "concurrency levels (default: ${DEFAULT-VALUE})")
        List<Integer> concurrency;

        @Override
        public Integer call() throws Exception {
            TeacherBench.Config d = TeacherBench.Config.defaults();
            TeacherBench.Config config = new TeacherBench.Config(concurrency, requests, Duration.ofMillis(latencyMs), limit,
                    Duration.ofMillis(Math.round(windowS * 1000)), d.margin());
            System.out.println(TeacherBench.HEADER);
            boolean ok = true;
            for (TeacherBench.Row row : TeacherBench.run(config)) {
                System.out.println(row.format());
                ok &= row.answered() == row.requests() && (row.limit() == 0 || row.maxInWindow() <= row.limit());
            }
            if (!ok) System.out.println("FAILED: a request went unanswered or the rate limit was exceeded");
            return ok ? 0 : 1;
        }
    }
}
