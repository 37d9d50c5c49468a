package org.gpt4llm.bench;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.DeviceCounters;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.plan.MemoryPlanner;
import org.gpt4llm.plan.PlanRequest;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchLlama;
import org.gpt4llm.train.FullFineTune;
import org.gpt4llm.train.LoraFineTune;
import org.gpt4llm.train.StepRunner;
import org.gpt4llm.train.TrainableModel;

/**
 * {@code gpt4llm bench step}: one training step (forward, backward, AdamW with clipping) of the same
 * randomly initialised LLaMA on the same batch, timed in one of our backends and, side by side in the
 * same run, in a peer with the same thread count: libtorch ({@link TorchLlama}, autograd and
 * libtorch's AdamW; its intra-op threads and its own OpenBLAS's alike) next to the CPU backend, our
 * CPU backend next to a CUDA one (cuda-emu's cost over the CPU, or a GPU's speed-up). Steps of the two sides alternate,
 * so both see the same machine load, with an untimed pause before each so that one side's idle
 * spinning threads do not eat into the other's time; each side's time is the median over the timed
 * steps. The load average before and after is reported, since this machine may be shared.
 *
 * <p>Model FLOPs of one training step (forward 1x, backward 2x; recomputation not counted):
 * <pre>
 *   matmul = 6 * P * B*T            P = L*(2*C*C + 2*C*KV + 3*C*F) + V*C   (weights that are multiplied:
 *                                     attention, MLP and the lm_head; the embedding lookup is free)
 *   attn   = 6 * L * B * T*T * C    QKᵀ and PV are 2*T*T*C each per layer and sequence in the forward,
 *                                     halved by the causal mask, times 3 for forward + backward
 * </pre>
 * Achieved GFLOP/s = (matmul + attn) / median step time, shown next to OpenBLAS sgemm measured in
 * the same run on the model's MLP shape (M = B*T, N = F, K = C), the ceiling of a fp32 CPU step: a
 * window of sgemm calls after each of our timed steps, the median over the windows, so the ceiling is
 * measured when the steps are, not in one moment of a shared machine's load.
 *
 * <p>Our step is the trainer's ({@link StepRunner}): on a cuda backend it waits for the device only
 * to read the loss and gradient norm back, and each step's device counters (launches, GEMMs, graph
 * launches, synchronisations, allocations, copies) are printed and kept in the report; with
 * {@code cudaGraph} the steps after the first two replay a captured CUDA graph. The CPU peer runs the
 * same trainer's step (eagerly), so both sides draw the same LoRA dropout masks.
 */
public final class StepBench {
    private StepBench() {}

    /** The side a step is timed against. */
    public enum Peer {
        LIBTORCH, CPU, NONE;

        /** {@code --compare}'s value. */
        public static Peer parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "libtorch", "torch" -> LIBTORCH;
                case "cpu" -> CPU;
                case "none" -> NONE;
                default -> throw new IllegalArgumentException("--compare " + name + " is not libtorch, cpu or none");
            };
        }

        /** libtorch next to the CPU backend, the CPU backend next to a CUDA one. */
        public static Peer defaultFor(String backend) {
            return backend.equals("cpu") ? LIBTORCH : CPU;
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * What to measure; {@code peer} NONE times our backend alone; {@code lora} null trains every weight,
     * else a LoRA step (frozen base, AdamW over the adapters) on both sides; {@code cudaGraph} replays
     * our step from a captured CUDA graph (a cuda backend only).
     */
    public record Options(String preset, int vocab, int batch, int seq, int threads, int steps, int warmup,
                          long seed, Peer peer, float lr, float maxGradNorm, String backend,
                          LoraConfig lora, boolean cudaGraph) {
        public Options {
            if (peer == Peer.LIBTORCH && !backend.equals("cpu")) {
                throw new IllegalArgumentException("--compare libtorch needs --backend cpu (the libtorch here runs on the"
                        + " CPU); use --compare cpu or none with --backend " + backend);
            }
            if (peer == Peer.CPU && backend.equals("cpu")) {
                throw new IllegalArgumentException("--compare cpu needs another --backend than cpu (cuda or cuda-emu)");
            }
            if (vocab < 1) throw new IllegalArgumentException("--vocab must be positive, got " + vocab);
            if (batch < 1) throw new IllegalArgumentException("--batch must be positive, got " + batch);
            if (seq < 2) throw new IllegalArgumentException("--seq must be at least 2, got " + seq);
            if (threads < 1) throw new IllegalArgumentException("--threads must be positive, got " + threads);
            if (steps < 1) throw new IllegalArgumentException("--steps must be positive, got " + steps);
            if (warmup < 0) throw new IllegalArgumentException("--warmup must not be negative, got " + warmup);
        }

        public static Options defaults() {
            return new Options("small", 32000, 4, 256, Runtime.getRuntime().availableProcessors(), 5, 1, 0, Peer.LIBTORCH,
                    1e-4f, 1.0f, "cpu", null, false);
        }
    }

    /** One side's measurements; times in seconds. */
    /** {@code allStepsS}: every step's time summed, the warmup's included (what a whole run costs). */
    public record Side(String name, int threads, int blasThreads, double medianStepS, double[] stepS, float firstLoss,
                       double tokensPerS, double gflops, double allStepsS) {}

    /**
     * @param peer           null when the step was timed alone
     * @param deviceCounters what our device did in each step, warm-up included (null on the cpu backend)
     * @param peakDeviceBytes    the high-water mark of our backend's live bytes over every step
     * @param plannedDeviceBytes what {@code gpt4llm plan} says the same step needs on the device
     */
    public record Result(Options options, LlamaConfig config, long parameters, long tokensPerStep, double flopsPerStep,
                         Side ours, Side peer, double sgemmGflops, int[] sgemmShape, String blas,
                         double loadBefore, double loadAfter, int cores, List<DeviceCounters> deviceCounters,
                         long peakDeviceBytes, long plannedDeviceBytes) {
        /** ours / peer median step time, NaN without a comparison. */
        public double ratio() {
            return peer == null ? Double.NaN : ours.medianStepS / peer.medianStepS;
        }

        /** The peer when it is libtorch, else null. */
        public Side libtorch() {
            return options.peer() == Peer.LIBTORCH ? peer : null;
        }

        public double lossRelDiff() {
            return peer == null ? Double.NaN
                    : Math.abs(ours.firstLoss - peer.firstLoss) / Math.max(1e-12, Math.abs(peer.firstLoss));
        }

        /**
         * Above this the two sides did not compute the same step: libtorch runs the same fp32 math, the
         * CPU backend next to a CUDA one fp32 against bf16 activations and weights (~1% on the loss).
         */
        double lossTolerance() {
            return options.peer() == Peer.LIBTORCH ? 1e-3 : 3e-2;
        }

        /** Our step's model FLOP rate over sgemm's at the MLP shape, both measured in this run (NaN without sgemm). */
        public double fractionOfSgemm() {
            return ours.gflops() / sgemmGflops;
        }

        /** The JSON report of {@code bench step --json} (and of the suite's step section). */
        public Report report() {
            LoraConfig lora = options.lora();
            boolean torch = options.peer() == Peer.LIBTORCH && peer != null, cpu = options.peer() == Peer.CPU && peer != null;
            return new Report("step", options.preset(), config.vocabSize(), options.batch(), options.seq(), options.steps(),
                    options.warmup(), lora == null ? null : lora.rank(), lora == null ? null : lora.alpha(),
                    lora == null ? null : lora.targets(), parameters, tokensPerStep, flopsPerStep, Report.Side.of(ours),
                    torch ? Report.Side.of(peer) : null, torch ? ratio() : null, cpu ? Report.Side.of(peer) : null,
                    cpu ? ratio() : null, peer != null ? lossRelDiff() : null,
                    Double.isNaN(sgemmGflops) ? null : sgemmGflops,
                    Double.isNaN(sgemmGflops) ? null : List.of(sgemmShape[0], sgemmShape[1], sgemmShape[2]),
                    Double.isNaN(sgemmGflops) ? null : fractionOfSgemm(), blas, cores,
                    loadBefore, loadAfter, deviceCounters == null ? List.of() : deviceCounters, options.cudaGraph(),
                    peakDeviceBytes, plannedDeviceBytes);
        }

        /** The report printed by {@code gpt4llm bench step}. */
        public String toText() {
            StringBuilder b = new StringBuilder();
            b.append(String.format(Locale.ROOT,
                    "bench step: llama %s, %,d parameters (hidden %d, layers %d, heads %d/%d, ffn %d, vocab %d)%n",
                    options.preset(), parameters, config.hiddenSize(), config.numLayers(), config.numHeads(),
                    config.numKvHeads(), config.intermediateSize(), config.vocabSize()));
            b.append(String.format(Locale.ROOT,
                    "batch %d x seq %d = %d tokens/step, %d warmup + %d timed steps, %.3g model GFLOP/step%n",
                    options.batch(), options.seq(), tokensPerStep, options.warmup(), options.steps(), flopsPerStep / 1e9));
            if (options.lora() != null) {
                b.append(String.format(Locale.ROOT, "LoRA step: rank %d, alpha %s, dropout %s on %s; base weights frozen%n",
                        options.lora().rank(), options.lora().alpha(), options.lora().dropout(),
                        String.join(",", options.lora().targets())));
            }
            if (peer != null) {
                b.append(String.format(Locale.ROOT, "first-step loss: ours %.6f  %s %.6f  (rel diff %.1e)%s%n",
                        ours.firstLoss(), options.peer().label(), peer.firstLoss(), lossRelDiff(),
                        lossRelDiff() > lossTolerance() ? "  WARNING: the two sides do not compute the same thing" : ""));
            }
            b.append(String.format(Locale.ROOT, "machine: %d cores, load average %.1f before and %.1f after (this run"
                    + " adds up to %d); other work inflates both sides' times%n", cores, loadBefore, loadAfter, ours.threads()));
            line(b, ours);
            b.append(String.format(Locale.ROOT, "device memory: peak %,d bytes (%.3f GiB) measured, %,d bytes (%.3f GiB)"
                    + " planned (gpt4llm plan)%n", peakDeviceBytes, peakDeviceBytes / (double) (1L << 30), plannedDeviceBytes,
                    plannedDeviceBytes / (double) (1L << 30)));
            if (peer != null) {
                line(b, peer);
                b.append(String.format(Locale.ROOT, "all %d steps (warmup included): ours %.3f s, %s %.3f s, ratio %.2f%n",
                        options.warmup() + options.steps(), ours.allStepsS(), options.peer().label(), peer.allStepsS(),
                        ours.allStepsS() / peer.allStepsS()));
                b.append(String.format(Locale.ROOT, "ratio_vs_%s=%.3f%n", options.peer().label(), ratio()));
            }
            if (!Double.isNaN(sgemmGflops)) {
                b.append(String.format(Locale.ROOT, "openblas sgemm %dx%dx%d (the MLP shape) in this run, median of a window after each timed step: %.3g GFLOP/s (%d threads);"
                        + " ours reaches %.0f%% of it, fraction_of_sgemm=%.3f%n", sgemmShape[0], sgemmShape[1], sgemmShape[2],
                        sgemmGflops, ours.threads(), 100 * fractionOfSgemm(), fractionOfSgemm()));
            }
            if (deviceCounters != null) {
                b.append(options.cudaGraph() ? "device counters per step (--cuda-graph: step 2 is captured, later ones replay it):%n".formatted()
                        : "device counters per step:%n".formatted());
                for (int i = 0; i < deviceCounters.size(); i++) {
                    b.append(String.format(Locale.ROOT, "  step %d%s: %s%n", i + 1, i < options.warmup() ? " (warmup)" : "",
                            deviceCounters.get(i)));
                }
            }
            return b.toString();
        }

        private static void line(StringBuilder b, Side s) {
            b.append(String.format(Locale.ROOT, "%-9s median step %.4f s  %,.0f tokens/s  %.3g GFLOP/s  threads %d (BLAS %d)%n",
                    s.name() + ":", s.medianStepS(), s.tokensPerS(), s.gflops(), s.threads(), s.blasThreads()));
        }

        public void writeJson(Path file) throws IOException {
            StepBench.writeJson(file, report());
        }
    }

    /**
     * The JSON of one measured step. The LoRA keys are there for a LoRA step only, the peer's side (libtorch
     * or cpu), its ratio and the first-loss check with a comparison only, and the sgemm ceiling next to the
     * CPU backend only.
     *
     * @param ratioVsLibtorch  ours / libtorch median step time
     * @param ratioVsCpu       ours / the CPU backend's median step time (ours a CUDA backend)
     * @param firstLossRelDiff |ours - peer| / |peer| of the first step's loss: both sides computed the same
     * @param openblasSgemmMnk M, N, K of the sgemm ceiling (the model's MLP shape)
     * @param fractionOfSgemm  ours' model GFLOP/s over that sgemm's, measured in the same run
     * @param deviceCounters   what our device did in each step, warm-up included (empty on the cpu backend)
     * @param cudaGraph        whether our steps replayed a captured CUDA graph
     * @param peakDeviceBytes  the high-water mark of our backend's live bytes (its memory ledger)
     * @param plannedDeviceBytes what {@code gpt4llm plan} says the same step needs on the device
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Report(String bench, String preset, int vocab, int batch, int seq, int steps, int warmup,
                         Integer loraRank, Float loraAlpha, List<String> loraTargets, long parameters, long tokensPerStep,
                         double modelFlopsPerStep, Side ours, Side libtorch, Double ratioVsLibtorch, Side cpu,
                         Double ratioVsCpu, Double firstLossRelDiff, Double openblasSgemmGflops, List<Integer> openblasSgemmMnk,
                         Double fractionOfSgemm, String openblas, int cores, double loadAverageBefore, double loadAverageAfter,
                         List<DeviceCounters> deviceCounters, boolean cudaGraph, long peakDeviceBytes,
                         long plannedDeviceBytes) {
        /** One side's numbers; times in seconds, {@code stepS} every timed step's. */
        @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
        public record Side(int threads, int blasThreads, double medianStepS, double tokensPerS, double gflops,
                           float firstLoss, double[] stepS) {
            static Side of(StepBench.Side s) {
                return new Side(s.threads(), s.blasThreads(), s.medianStepS(), s.tokensPerS(), s.gflops(), s.firstLoss(),
                        s.stepS());
            }
        }
    }

    /** A bench report as pretty JSON, written atomically (temp file + rename). */
    static void writeJson(Path file, Object json) throws IOException {
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        AtomicFiles.writeJson(abs, json);
    }

    /** Model FLOPs of one training step (see the class comment); {@code lora} may be null. */
    public static double stepFlops(LlamaConfig c, int batch, int seq, LoraConfig lora) {
        double C = c.hiddenSize(), kv = c.kvDim(), f = c.intermediateSize(), v = c.vocabSize(), l = c.numLayers();
        double p = l * (2 * C * C + 2 * C * kv + 3 * C * f) + v * C;
        double n = (double) batch * seq, attn = 6 * l * n * seq * C;
        if (lora == null) return 6 * p * n + attn;
        // frozen base: no weight-gradient GEMMs; each adapter adds 6 * N * r * (in + out)
        double adapters = 0;
        for (var e : DecoderModels.parameterShapes(c).entrySet()) {
            for (String t : lora.targets()) {
                if (e.getKey().endsWith("." + t + ".weight")) adapters += 6 * n * lora.rank() * (e.getValue()[0] + e.getValue()[1]);
            }
        }
        return 4 * p * n + attn + adapters;
    }

    /** The random-init model of a run, with fresh LoRA adapters when the run measures a LoRA step. */
    private static DecoderModel model(Backend backend, LlamaConfig cfg, Options o) {
        DecoderModel m = DecoderModels.initRandom(backend, cfg, o.seed());
        if (o.lora() != null) m.enableLora(o.lora(), o.seed() + 2);
        return m;
    }

    /** Random token rows, every position predicting the next token of its row. */
    public static TokenBatch randomBatch(int batch, int seq, int vocab, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[][] rows = new int[batch][seq + 1];
        for (int[] r : rows) for (int j = 0; j < r.length; j++) r[j] = rng.nextInt(vocab);
        int n = batch * seq;
        int[] tok = new int[n], tgt = new int[n], pos = new int[n], seg = new int[n];
        for (int i = 0; i < batch; i++) {
            for (int j = 0; j < seq; j++) {
                tok[i * seq + j] = rows[i][j];
                tgt[i * seq + j] = rows[i][j + 1];
                pos[i * seq + j] = j;
                seg[i * seq + j] = 1;
            }
        }
        return new TokenBatch(batch, seq, tok, tgt, pos, seg);
    }

    /** A peer that runs the same step: libtorch, or our CPU backend with its own model and optimizer. */
    private interface PeerStep extends AutoCloseable {
        /** Step number {@code step} (1-based, as ours) on {@code batch}; returns its loss. */
        float step(TokenBatch batch, int step, Options o);

        int threads();

        int blasThreads();

        @Override
        void close();
    }

    private static PeerStep torchPeer(LlamaConfig cfg, DecoderModel ours, Backend backend, Backend.AdamW hp, Options o) {
        TorchLlama theirs = new TorchLlama(cfg, ours.parameters(), o.threads());
        if (o.lora() != null) {
            Map<String, float[]> adapters = new LinkedHashMap<>();
            ours.trainableParameters().forEach((name, t) -> adapters.put(name, backend.download(t)));
            theirs.enableLora(o.lora().rank(), o.lora().scale(), o.lora().targets(), adapters);
        }
        theirs.useAdamW(hp.beta1(), hp.beta2(), hp.eps(), hp.weightDecay());
        int threads = Torch.threads(), blas = Torch.blasThreads();
        return new PeerStep() {
            public float step(TokenBatch batch, int step, Options o) {
                float loss = theirs.forward(batch);
                theirs.backward();
                theirs.step(o.lr(), o.maxGradNorm());
                return loss;
            }

            public int threads() {
                return threads;
            }

            public int blasThreads() {
                return blas;
            }

            public void close() {
                theirs.close();
            }
        };
    }

    /**
     * The CPU backend from the same seed: the same fp32 initial weights (and adapters) as ours, and
     * the same trainer's step (the same LoRA dropout masks from the same seed and step).
     */
    private static PeerStep cpuPeer(LlamaConfig cfg, Backend.AdamW hp, Options o) {
        Backend cpu = Backends.open("cpu", o.threads());
        DecoderModel model = model(cpu, cfg, o);
        AdamWOptimizer opt = new AdamWOptimizer(cpu, model.trainableParameters(), model.trainableGradients(), hp);
        StepRunner<TokenBatch> runner = new StepRunner<>(trainable(model), opt, false, note -> {});
        return new PeerStep() {
            public float step(TokenBatch batch, int step, Options o) {
                return (float) runner.step(List.of(batch), step, o.lr(), o.maxGradNorm(), o.seed()).loss();
            }

            public int threads() {
                return cpu.threads();
            }

            public int blasThreads() {
                return cpu.threads(); // what it gives a GEMM above CpuBackend.blasThreads' threshold
            }

            public void close() {
                runner.close();
                opt.close();
                model.close();
                cpu.close();
            }
        };
    }

    public static Result run(Options o, PrintStream progress) {
        LlamaConfig cfg = LlamaConfig.preset(o.preset(), o.vocab());
        TokenBatch batch = randomBatch(o.batch(), o.seq(), cfg.vocabSize(), o.seed() + 1);
        Backend.AdamW hp = new Backend.AdamW(0.9f, 0.95f, 1e-8f, 0.1f);
        int total = o.warmup() + o.steps();
        boolean compared = o.peer() != Peer.NONE;
        double[] oursS = new double[o.steps()], theirsS = compared ? new double[o.steps()] : null;
        double[] allS = new double[2];  // every step of each side, warmup included
        float oursLoss = Float.NaN, theirsLoss = Float.NaN;
        long params;
        int oursThreads, oursBlas, theirsThreads = 0, theirsBlas = 0;
        double loadBefore = loadAverage();
        double sgemm;
        int[] shape = {batch.size(), cfg.intermediateSize(), cfg.hiddenSize()};
        double[] sgemmWindows = new double[o.steps()];
        List<DeviceCounters> counters = null;
        long peak;
        try (Backend backend = Backends.open(o.backend(), o.threads());
             DecoderModel ours = model(backend, cfg, o);
             AdamWOptimizer opt = new AdamWOptimizer(backend, ours.trainableParameters(), ours.trainableGradients(), hp);
             StepRunner<TokenBatch> runner = new StepRunner<>(trainable(ours), opt, o.cudaGraph(),
                     note -> { if (progress != null) progress.println(note); });
             PeerStep theirs = switch (o.peer()) {
                 case LIBTORCH -> torchPeer(cfg, ours, backend, hp, o);
                 case CPU -> cpuPeer(cfg, hp, o);
                 case NONE -> null;
             }) {
            CudaBackend gpu = backend instanceof CudaBackend c ? c : null;
            if (gpu != null) counters = new java.util.ArrayList<>();
            params = ours.parameterCount();
            oursThreads = backend.threads();
            oursBlas = backend instanceof CpuBackend ? backend.threads() : 0;
            if (theirs != null) {
                theirsThreads = theirs.threads();
                theirsBlas = theirs.blasThreads();
            }
            String peerName = String.format(Locale.ROOT, "%-8s", o.peer().label());
            for (int s = 0; s < total; s++) {
                boolean timed = s >= o.warmup();
                // alternate which side goes first, so neither always runs right after the other
                for (int side = 0; side < (theirs == null ? 1 : 2); side++) {
                    boolean oursNow = theirs == null || (side == 0) == (s % 2 == 0);
                    if (theirs != null) settle();
                    long t0 = System.nanoTime();
                    float loss;
                    DeviceCounters device = null;
                    if (oursNow) {
                        DeviceCounters before = gpu == null ? null : gpu.device().counters();
                        loss = (float) runner.step(List.of(batch), s + 1, o.lr(), o.maxGradNorm(), o.seed()).loss();
                        if (gpu != null) {
                            device = gpu.device().counters().minus(before);
                            counters.add(device);
                        }
                    } else {
                        loss = theirs.step(batch, s + 1, o);
                    }
                    double dt = (System.nanoTime() - t0) / 1e9;
                    if (s == 0 && oursNow) oursLoss = loss;
                    if (s == 0 && !oursNow) theirsLoss = loss;
                    if (timed) (oursNow ? oursS : theirsS)[s - o.warmup()] = dt;
                    // the fp32 CPU ceiling means something only next to the cpu backend
                    if (timed && oursNow && backend instanceof CpuBackend) {
                        sgemmWindows[s - o.warmup()] = sgemmGflops(shape[0], shape[1], shape[2], o.threads(), SGEMM_WINDOW_NS);
                    }
                    allS[oursNow ? 0 : 1] += dt;
                    if (progress != null) {
                        progress.printf(Locale.ROOT, "%s step %d/%d%s: %.4f s, loss %.5f%s%n", oursNow ? "ours    " : peerName,
                                s + 1, total, timed ? "" : " (warmup)", dt, loss, device == null ? "" : "; " + device);
                    }
                }
            }
            sgemm = backend instanceof CpuBackend ? median(sgemmWindows) : Double.NaN;
            peak = backend.memory().peakDeviceBytes();
        }
        long planned = MemoryPlanner.plan(new PlanRequest(cfg, o.backend(), o.seq(), o.batch(), o.lora(), false, false))
                .deviceBytes();
        double flops = stepFlops(cfg, o.batch(), o.seq(), o.lora());
        long tokens = batch.size();
        Side oursSide = side("ours (" + o.backend() + ")", oursThreads, oursBlas, oursS, oursLoss, tokens, flops, allS[0]);
        Side theirsSide = theirsS == null ? null
                : side(o.peer().label(), theirsThreads, theirsBlas, theirsS, theirsLoss, tokens, flops, allS[1]);
        return new Result(o, cfg, params, tokens, flops, oursSide, theirsSide, sgemm, shape, OpenBlas.describe(),
                loadBefore, loadAverage(), Runtime.getRuntime().availableProcessors(), counters, peak, planned);
    }

    /** The trainer's view of our model: its adapters when it has them, else every weight. */
    private static TrainableModel<TokenBatch> trainable(DecoderModel m) {
        return m.loraConfig() == null ? new FullFineTune(m, null) : new LoraFineTune(m, null);
    }

    private static Side side(String name, int threads, int blas, double[] times, float firstLoss, long tokens, double flops,
                             double allStepsS) {
        double med = median(times);
        return new Side(name, threads, blas, med, times, firstLoss, tokens / med, flops / med / 1e9, allStepsS);
    }

    /**
     * A short untimed pause before each side's step, so the worker threads the other side's OpenMP
     * and OpenBLAS pools leave spinning after their last job have gone to sleep and take no cores.
     * {@link GenerateBench} pauses the same way before each run.
     */
    static void settle() {
        try {
            Thread.sleep(200);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static double loadAverage() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** The sgemm window after each timed step: its median call is the window's rate. */
    private static final long SGEMM_WINDOW_NS = 250_000_000L;

    /**
     * Median GFLOP/s of row-major {@code C[m,n] = A[m,k]·B[n,k]ᵀ} (the layout of a linear layer) over the
     * calls that fit in a second (3 to 1000), on as many OpenBLAS threads as a CPU backend of
     * {@code backendThreads} gives a GEMM of that size. A second, like the timed steps it is set against:
     * a few milliseconds of calls swung by a factor of 1.8 between runs on a shared machine.
     */
    public static double sgemmGflops(int m, int n, int k, int backendThreads) {
        return sgemmGflops(m, n, k, backendThreads, 1_000_000_000L);
    }

    /** As above, over the calls that fit in {@code budgetNs} (at least 3). */
    static double sgemmGflops(int m, int n, int k, int backendThreads, long budgetNs) {
        int threads = CpuBackend.blasThreads(m, n, k, backendThreads);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = random(arena, (long) m * k, 1), b = random(arena, (long) n * k, 2);
            MemorySegment c = arena.allocate((long) m * n * Float.BYTES, 64);
            double flops = 2.0 * m * n * k;
            long start = System.nanoTime();
            OpenBlas.sgemm(threads, false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);   // warm-up
            double[] t = new double[1000];
            int reps = 0;
            while (reps < t.length && (reps < 3 || System.nanoTime() - start < budgetNs)) {
                long t0 = System.nanoTime();
                OpenBlas.sgemm(threads, false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
                t[reps++] = (System.nanoTime() - t0) / 1e9;
            }
            return flops / median(Arrays.copyOf(t, reps)) / 1e9;
        }
    }

    private static MemorySegment random(Arena arena, long n, long seed) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        SplittableRandom rng = new SplittableRandom(seed);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rng.nextDouble() - 0.5));
        return s;
    }
}
