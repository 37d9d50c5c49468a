package org.gpt4llm.bench;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.MeteredCommunicator;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.plan.MemoryPlanner;
import org.gpt4llm.plan.PlanRequest;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.train.FullFineTune;
import org.gpt4llm.train.LoraFineTune;
import org.gpt4llm.train.StepEngine;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.parallel.LocalGroup;
import org.gpt4llm.train.parallel.RankMemory;

/**
 * {@code gpt4llm bench step --gpus N}: data-parallel training steps of a random-init LLaMA on N devices of
 * one backend (GPUs through NCCL on cuda, emulated devices in this process on cpu and cuda-emu), each
 * device taking one micro-batch of {@code batch} rows a step, with the communication each rank measured
 * next to what is planned: the bytes each rank sent (counted from the collectives it called, as a ring
 * moves them: {@link MeteredCommunicator}) against {@link RankMemory#bytesSentPerStep}, and the time it
 * spent in collectives (waiting for the other ranks included). Each device's memory peak over the run
 * (under ZeRO 3 the consolidation at its end included) is shown next to {@code gpt4llm plan --gpus N --zero S}.
 */
public final class ParallelStepBench {
    private ParallelStepBench() {}

    /** What to measure: {@code batch} rows of {@code seq} tokens per device and step; {@code lora} null trains every weight. */
    public record Options(String preset, int vocab, int batch, int seq, int threads, int steps, int warmup, long seed,
                          String backend, LoraConfig lora, int gpus, int zero) {
        public Options {
            if (gpus < 2) throw new IllegalArgumentException("--gpus must be at least 2 for a data-parallel step, got " + gpus);
            DataParallel.requireStage(zero);
            if (batch < 1) throw new IllegalArgumentException("--batch must be positive, got " + batch);
            if (seq < 2) throw new IllegalArgumentException("--seq must be at least 2, got " + seq);
            if (steps < 1) throw new IllegalArgumentException("--steps must be positive, got " + steps);
            if (warmup < 0) throw new IllegalArgumentException("--warmup must not be negative, got " + warmup);
        }
    }

    /**
     * The JSON of {@code bench step --gpus N --json}; times in seconds, bytes per rank and step.
     *
     * @param stepS                   every timed step's wall time
     * @param bytesSentPerRank        each rank's bytes sent in one timed step (the same in every step)
     * @param plannedBytesSentPerRank what the plan says each rank sends in a step
     * @param collectiveSecondsPerRank each rank's median time in collectives over the timed steps
     * @param collectiveCallsPerStep  collectives a rank calls in a step
     * @param peakDeviceBytesPerRank  each device's high-water mark of live bytes
     * @param plannedDeviceBytes      what {@code gpt4llm plan --gpus N --zero S} says one device needs
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Report(String bench, String backend, String preset, int vocab, int gpus, int zero, int batchPerDevice,
                         int seq, int steps, int warmup, Integer loraRank, long parameters, long trainableParameters,
                         long tokensPerStep, double medianStepS, double tokensPerS, double[] stepS,
                         long[] bytesSentPerRank, long plannedBytesSentPerRank, double[] collectiveSecondsPerRank,
                         long collectiveCallsPerStep, long[] peakDeviceBytesPerRank, long plannedDeviceBytes,
                         float firstLoss, double loadAverageBefore, double loadAverageAfter) {
        /** The report printed by {@code gpt4llm bench step --gpus N}. */
        public String toText() {
            StringBuilder b = new StringBuilder();
            b.append(String.format(Locale.ROOT, "bench step: llama %s, %,d parameters (%,d trained%s), %d %s devices,"
                    + " ZeRO %d%n", preset, parameters, trainableParameters, loraRank == null ? "" : ", LoRA rank " + loraRank,
                    gpus, backend, zero));
            b.append(String.format(Locale.ROOT, "batch %d x seq %d per device = %d tokens/step, %d warmup + %d timed steps;"
                    + " load average %.1f before, %.1f after%n", batchPerDevice, seq, tokensPerStep, warmup, steps,
                    loadAverageBefore, loadAverageAfter));
            b.append(String.format(Locale.ROOT, "median step %.4f s, %,.0f tokens/s%n", medianStepS, tokensPerS));
            b.append(String.format(Locale.ROOT, "communication per step and rank: planned %s sent%n", mib(plannedBytesSentPerRank)));
            for (int r = 0; r < gpus; r++) {
                b.append(String.format(Locale.ROOT, "  rank %d: sent %s, %.4f s in %d collectives (%.0f%% of the step);"
                        + " device peak %s (planned %s)%n", r, mib(bytesSentPerRank[r]), collectiveSecondsPerRank[r],
                        collectiveCallsPerStep, 100 * collectiveSecondsPerRank[r] / medianStepS, mib(peakDeviceBytesPerRank[r]),
                        mib(plannedDeviceBytes)));
            }
            return b.toString();
        }

        private static String mib(long bytes) {
            return String.format(Locale.ROOT, "%,d bytes (%.2f MiB)", bytes, bytes / (double) (1L << 20));
        }

        public void writeJson(Path file) throws IOException {
            StepBench.writeJson(file, this);
        }
    }

    public static Report run(Options o, PrintStream progress) {
        LlamaConfig cfg = LlamaConfig.preset(o.preset(), o.vocab());
        int n = o.gpus(), total = o.warmup() + o.steps();
        List<TokenBatch> micro = new ArrayList<>();
        for (int r = 0; r < n; r++) micro.add(StepBench.randomBatch(o.batch(), o.seq(), cfg.vocabSize(), o.seed() + 1 + r));
        double loadBefore = loadAverage();
        List<Backend> bes = new ArrayList<>();
        List<DecoderModel> models = new ArrayList<>();
        try {
            List<TrainableModel<TokenBatch>> replicas = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                bes.add(Backends.open(o.backend(), Math.max(1, o.threads() / n), r));
                DecoderModel m = DecoderModels.initRandom(bes.get(r), cfg, o.seed());
                models.add(m);
                if (o.lora() != null) m.enableLora(o.lora(), o.seed() + 2);
                replicas.add(o.lora() == null ? new FullFineTune(m, null) : new LoraFineTune(m, null));
            }
            List<MeteredCommunicator> meters = new ArrayList<>();
            for (Communicator c : LocalGroup.open(bes, DataParallel.DEFAULT_TIMEOUT)) meters.add(new MeteredCommunicator(c));
            DataParallel<TokenBatch> dp = new DataParallel<>(replicas, List.copyOf(meters), o.zero());
            double[] stepS = new double[o.steps()];
            double[][] commS = new double[n][o.steps()];
            long[] bytes = new long[n];
            long calls = 0;
            float firstLoss = Float.NaN;
            try (AdamWOptimizer opt = dp.optimizer(replicas.get(0), 0.0, false);
                 StepEngine<TokenBatch> engine = dp.open(replicas.get(0), opt, false, note -> {})) {
                for (int s = 0; s < total; s++) {
                    for (MeteredCommunicator m : meters) m.reset();
                    long t0 = System.nanoTime();
                    double loss = engine.step(micro, s + 1, 1e-4, 1.0, o.seed()).loss();
                    double dt = (System.nanoTime() - t0) / 1e9;
                    if (s == 0) firstLoss = (float) loss;
                    if (s >= o.warmup()) {
                        int t = s - o.warmup();
                        stepS[t] = dt;
                        for (int r = 0; r < n; r++) {
                            commS[r][t] = meters.get(r).seconds();
                            bytes[r] = meters.get(r).bytesSent();
                        }
                        calls = meters.get(0).calls();
                    }
                    if (progress != null) {
                        progress.printf(Locale.ROOT, "step %d/%d%s: %.4f s, loss %.5f, rank 0 sent %,d bytes in %.4f s%n", s + 1,
                                total, s < o.warmup() ? " (warmup)" : "", dt, loss, meters.get(0).bytesSent(),
                                meters.get(0).seconds());
                    }
                }
            }
            long[] peaks = bes.stream().mapToLong(be -> be.memory().peakDeviceBytes()).toArray();
            double[] commMedian = Arrays.stream(commS).mapToDouble(StepBench::median).toArray();
            long planned = MemoryPlanner.plan(new PlanRequest(cfg, o.backend(), o.seq(), o.batch(), o.lora(), false, false,
                    n, o.zero())).deviceBytes();
            // one micro-batch per device and step
            long plannedBytes = RankMemory.bytesSentPerStep(replicas.get(0).trainableParameters(), replicas.get(0).decoder(),
                    n, o.zero(), DataParallel.DEFAULT_BUCKET, 1);
            long trainable = replicas.get(0).trainableParameters().values().stream().mapToLong(t -> t.numel()).sum();
            long tokens = (long) n * o.batch() * o.seq();
            double median = StepBench.median(stepS);
            return new Report("step", o.backend(), o.preset(), cfg.vocabSize(), n, o.zero(), o.batch(), o.seq(), o.steps(),
                    o.warmup(), o.lora() == null ? null : o.lora().rank(), models.get(0).parameterCount(), trainable, tokens,
                    median, tokens / median, stepS, bytes, plannedBytes, commMedian, calls, peaks, planned, firstLoss,
                    loadBefore, loadAverage());
        } finally {
            for (DecoderModel m : models) m.close();
            for (Backend be : bes) be.close();
        }
    }

    private static double loadAverage() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }
}
