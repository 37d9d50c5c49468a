package org.gpt4llm.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.io.FileFingerprint;
import org.gpt4llm.model.Batch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.data.BatchSource;

/**
 * Training into a run folder ({@code --out}), for supervised fine-tuning ({@code TokenBatch}es) and
 * reward models (batches of scored responses) alike:
 * <pre>
 * config.json           the resolved configuration
 * metrics.jsonl         per step: step, epoch, loss, lr, grad_norm, tokens_per_s, peak_device_bytes (the
 *                       backend's high-water mark of live bytes so far; + peak_host_bytes where state lives
 *                       on the host) (+ the task's own step metrics, DPO's rewards/*) (+ eval_loss and the
 *                       model's other held-out metrics on eval steps)
 * loss.png              training and held-out loss against the step (+ accuracy.png for a reward model)
 * checkpoint-STEP/      every --save-every steps, the newest --keep kept
 * final/                what was trained, after the last step
 * </pre>
 * One optimizer step reads {@code --batch} rows in micro-batches of {@code --micro-batch}; the loss is
 * the mean over all loss terms (target tokens, or pairs) of the step, so every micro-batch's backward
 * is scaled by 1 / (terms of the whole step). The order of rows, the dropout seeds and the schedule are functions
 * of the seed and the step, which is what makes {@code --resume} continue exactly; {@link RunStart} says
 * whether it may (the same settings, the same data files, a run not finished yet).
 */
public final class Trainer<B extends Batch> {
    public static final String METRICS = "metrics.jsonl", CONFIG = "config.json";

    private final TrainConfig cfg;
    private final TrainableModel<B> model;
    private final BatchSource<B> train, eval;
    private final String task;
    private final Path runDir;
    private final boolean quiet;
    private final PrintStream out;
    /** The --data files this run trains on, recorded in every checkpoint. */
    private List<FileFingerprint> dataFiles = List.of();
    private final int longestRow;
    private StepEngine.Factory<B> engines = StepEngine.Factory.singleDevice();

    /**
     * Result of a finished run; {@code evalLoss} is NaN without a held-out set. {@code firstEval} and
     * {@code lastEval} are the first and last held-out metrics logged (empty without a held-out set).
     */
    public record Result(int steps, double loss, double firstEvalLoss, double evalLoss, Path finalDir,
                         Map<String, Double> firstEval, Map<String, Double> lastEval) {}

    /** {@code eval} may be null or empty (no held-out loss); messages go to {@code out} unless {@code quiet}. */
    public Trainer(TrainConfig cfg, TrainableModel<B> model, BatchSource<B> train, BatchSource<B> eval, boolean quiet,
                   PrintStream out) {
        this("sft", cfg, model, train, eval, quiet, out);
    }

    /** {@code task} names the run in plots ("sft", "rm"). */
    public Trainer(String task, TrainConfig cfg, TrainableModel<B> model, BatchSource<B> train, BatchSource<B> eval,
                   boolean quiet, PrintStream out) {
        this.task = task;
        this.cfg = cfg;
        this.model = model;
        this.train = train;
        this.eval = eval == null || eval.size() == 0 ? null : eval;
        this.runDir = Path.of(cfg.out());
        this.quiet = quiet;
        this.out = out;
        this.longestRow = cfg.cudaGraph() ? train.longestRow() : 0;
    }

    /** Runs the steps with {@code engines} (several devices) instead of on the model's one device. */
    public Trainer<B> withSteps(StepEngine.Factory<B> engines) {
        this.engines = engines;
        return this;
    }

    /** {@link #run(RunStart)} after {@link RunStart#check} of this run's configuration. */
    public Result run() throws IOException {
        return run(RunStart.check(cfg));
    }

    /**
     * Trains, from the start or (with {@code --resume}) from the newest checkpoint, into {@code --out};
     * {@code checked} is {@link RunStart#check} of this run's configuration, done before the model and
     * data were loaded. A resumed run that was finished trains nothing and returns what it logged.
     */
    public Result run(RunStart checked) throws IOException {
        if (!checked.config().equals(cfg)) throw new IllegalArgumentException("the run was checked for another configuration");
        if (cfg.cudaGraph()) StepRunner.requireGraphs(model.backend());  // before anything is written
        for (String note : checked.notes()) out.println(note);
        CheckpointStore store = new CheckpointStore(runDir);
        Path metricsFile = runDir.resolve(METRICS), configFile = runDir.resolve(CONFIG);
        if (checked.finished()) {
            if (!quiet) out.println(checked.finishedMessage());
            return finishedResult(checked.finalState(), metricsFile);
        }
        Files.createDirectories(runDir);
        store.removeStaleTemps();
        cfg.save(configFile);
        dataFiles = checked.dataFiles();

        DataOrder order = new DataOrder(cfg.seed(), train.size(), cfg.batch());
        int total = cfg.maxSteps() > 0 ? cfg.maxSteps() : cfg.epochs() * order.stepsPerEpoch();
        LrSchedule schedule = LrSchedule.of(cfg.schedule(), cfg.lr(), cfg.warmupRatio(), total);
        Backend be = model.backend();
        if (cfg.offloadOptimizer() && be.memoryIsHost()) {
            out.println("--offload-optimizer: the " + be.name() + " backend keeps weights and optimizer state in host"
                    + " memory already, so there is nothing to offload");
        }
        try (AdamWOptimizer opt = engines.optimizer(model, cfg.weightDecay(), cfg.offloadOptimizer())) {
            int start = 0, metricsLines = 0;
            Optional<Path> latest = cfg.resume() ? store.latest() : Optional.empty();
            if (latest.isPresent()) {
                TrainerState state = store.restore(latest.get(), model, opt, out::println);
                start = state.step();
                metricsLines = state.metricsLines();
                if (state.data().rows() != train.size()) {
                    throw new IllegalArgumentException(latest.get() + " was trained on " + state.data().rows()
                            + " rows but the data now has " + train.size() + ": --resume needs as many rows (even with"
                            + " --accept-changed-data), since the data order and the step count depend on them");
                }
            }
            Path lastGood = latest.orElse(null);
            // peak_device_bytes: the high-water mark of this run's steps, from the weights and optimizer state up
            be.memory().resetPeak();
            Map<String, Double> firstEval = null, lastEval = null;
            double loss = Double.NaN;
            try (MetricsLog metrics = new MetricsLog(metricsFile, metricsLines);
                 Progress progress = Progress.open(start, total, quiet, out);
                 StepEngine<B> runner = engines.open(model, opt, cfg.cudaGraph(), progress::message)) {
                if (latest.isPresent()) {
                    if (runner.shardsOptimizer()) CheckpointStore.restoreSharded(latest.get(), model, runner, progress::message);
                    progress.message("resuming from " + latest.get() + " at step " + start);
                }
                for (JsonNode m : metrics.entries()) {
                    if (m.has("eval_loss")) {
                        if (firstEval == null) firstEval = evalMetrics(m);
                        lastEval = evalMetrics(m);
                    }
                }
                if (eval != null && cfg.evalOnStart() && start == 0) {
                    // the untrained model's held-out metrics, as step 0: what training is measured against
                    firstEval = lastEval = runner.withWholeModel(() -> evaluate(0));
                    ObjectNode line = TrainConfig.JSON.createObjectNode();
                    line.put("step", 0);
                    firstEval.forEach(line::put);
                    metrics.append(line);
                    progress.message(String.format(java.util.Locale.ROOT, "before training: %s", firstEval));
                }
                try {
                    for (int step = start; step < total; step++) {
                        Step r;
                        double lr = schedule.lr(step);
                        try {
                            r = runner.step(microBatches(order.rows(step)), step + 1, lr, cfg.gradClip(),
                                    dropoutSeed(step));
                        } catch (TrainingDivergedException e) {
                            throw diverged(e.getMessage(), lastGood);
                        }
                        loss = r.loss();
                        double norm = r.gradNorm(), tokensPerS = r.tokens() / Math.max(1e-9, r.seconds());

                        int done = step + 1;
                        Double evalLoss = null;
                        Map<String, Double> evalMetrics = Map.of();
                        if (eval != null && ((cfg.evalEvery() > 0 && done % cfg.evalEvery() == 0) || done == total)) {
                            int after = done;
                            evalMetrics = runner.withWholeModel(() -> evaluate(after));
                            evalLoss = evalMetrics.get("eval_loss");
                            if (firstEval == null) firstEval = evalMetrics;
                            lastEval = evalMetrics;
                        }
                        ObjectNode line = TrainConfig.JSON.createObjectNode();
                        line.put("step", done);
                        line.put("epoch", Math.round((double) done / order.stepsPerEpoch() * 1e4) / 1e4);
                        line.put("loss", (float) loss);
                        line.put("lr", lr);
                        line.put("grad_norm", norm);
                        line.put("tokens_per_s", Math.round(tokensPerS * 10) / 10.0);
                        line.put("peak_device_bytes", be.memory().peakDeviceBytes());
                        if (be.memory().peakHostBytes() > 0) line.put("peak_host_bytes", be.memory().peakHostBytes());
                        model.stepMetrics().forEach(line::put);
                        evalMetrics.forEach(line::put);
                        metrics.append(line);
                        progress.step(done, loss, lr, tokensPerS, evalLoss);

                        if (cfg.saveEvery() > 0 && done % cfg.saveEvery() == 0 && done < total) {
                            be.rangePush("checkpoint");
                            try {
                                TrainerState saved = state(done, order, metrics.lines(), total);
                                String name = "checkpoint-" + saved.step();
                                // a sharding engine's ranks each write their shard of the optimizer state
                                lastGood = runner.shardsOptimizer() ? store.saveSharded(name, runner, saved)
                                        : runner.withWholeModel(() -> store.save(name, model, opt, saved));
                            } finally {
                                be.rangePop();
                            }
                            store.prune(cfg.keep());
                            LossPlot.write(runDir.resolve("loss.png"), metrics.entries(), title());
                        }
                    }
                } finally {
                    LossPlot.write(runDir.resolve("loss.png"), metrics.entries(), title());
                }
                be.rangePush("checkpoint");
                Path finalDir;
                try {
                    TrainerState last = state(total, order, metrics.lines(), total);
                    finalDir = runner.withWholeModel(() -> store.save("final", model, null, last));
                } finally {
                    be.rangePop();
                }
                progress.message("wrote " + finalDir);
                return new Result(total, loss, firstEval == null ? Double.NaN : firstEval.get("eval_loss"),
                        lastEval == null ? Double.NaN : lastEval.get("eval_loss"), finalDir,
                        firstEval == null ? Map.of() : firstEval, lastEval == null ? Map.of() : lastEval);
            }
        }
    }

    /**
     * AdamW over {@code model}'s trainable parameters with the recipe's betas (0.9, 0.999) and eps 1e-8,
     * weight decay {@code weightDecay} on the parameters the model says decay. The caller closes it.
     */
    public static AdamWOptimizer optimizer(TrainableModel<?> model, double weightDecay) {
        return optimizer(model, weightDecay, false);
    }

    /**
     * As above; with {@code offload} its state lives in host memory and it updates on the CPU ({@link
     * AdamWOptimizer}), and where that moves anything, the model's gradients stream to the host layer by
     * layer ({@link TrainableModel#streamGradients}): a {@link StepRunner} must drive its steps.
     */
    public static AdamWOptimizer optimizer(TrainableModel<?> model, double weightDecay, boolean offload) {
        if (offload && !model.backend().memoryIsHost()) model.streamGradients();
        return new AdamWOptimizer(model.backend(), model.trainableParameters(), model.trainableGradients(),
                adamW(weightDecay), model::decays, offload);
    }

    /** The recipe's AdamW: betas (0.9, 0.999), eps 1e-8, weight decay {@code weightDecay}. */
    public static Backend.AdamW adamW(double weightDecay) {
        return new Backend.AdamW(0.9f, 0.999f, 1e-8f, (float) weightDecay);
    }

    /**
     * What one optimizer step ({@link StepRunner#step}) did.
     *
     * @param step     the step number (1-based)
     * @param loss     the mean loss over the step's loss terms
     * @param gradNorm the global gradient norm before clipping
     * @param tokens   non-padding tokens the step read
     * @param lr       the learning rate of the update
     * @param seconds  wall time of the step (forward, backward and update)
     */
    public record Step(int step, double loss, double gradNorm, long tokens, double lr, double seconds) {}

    /**
     * Held-out metrics of {@code model} over {@code batches} ({@link TrainableModel#evaluate}), in an NVTX
     * range {@code eval} and a JFR {@code org.gpt4llm.Evaluate} event that records {@code afterStep}.
     */
    public static <B extends Batch> Map<String, Double> evaluate(TrainableModel<B> model, Iterable<B> batches,
                                                                 int afterStep) {
        EvalEvent event = new EvalEvent();
        event.begin();
        model.backend().rangePush("eval");
        Map<String, Double> m;
        long[] seen = {0, 0}; // loss terms, tokens
        try {
            m = new java.util.TreeMap<>(model.evaluate(() -> {
                java.util.Iterator<B> it = batches.iterator();
                return new java.util.Iterator<>() {
                    @Override
                    public boolean hasNext() {
                        return it.hasNext();
                    }

                    @Override
                    public B next() {
                        B b = it.next();
                        seen[0] += b.lossTerms();
                        seen[1] += b.tokenCount();
                        return b;
                    }
                };
            }));
        } finally {
            model.backend().rangePop();
        }
        event.step = afterStep;
        event.terms = seen[0];
        event.tokens = seen[1];
        event.loss = m.getOrDefault("eval_loss", Double.NaN).floatValue();
        event.commit();
        return m;
    }

    private Map<String, Double> evaluate(int afterStep) {
        return evaluate(model, evalBatches(), afterStep);
    }

    /**
     * One step's gradients: zeroes them, then runs every micro-batch, each backward scaled by
     * 1 / (target tokens of all micro-batches), so the result is the gradient of the mean loss over
     * the whole step whatever the split. Returns that mean loss (0 when there are no targets), read
     * back micro-batch by micro-batch; a {@link StepRunner} accumulates the same way without reading
     * anything back.
     */
    public static <B extends Batch> double accumulate(TrainableModel<B> model, List<B> micro) {
        model.zeroGrad();
        long targets = 0;
        for (B b : micro) targets += b.lossTerms();
        if (targets == 0) return 0;
        double sum = 0;
        float scale = (float) (1.0 / targets);
        for (B b : micro) {
            int n = b.lossTerms();
            if (n == 0) continue;
            sum += (double) model.forward(b) * n;
            model.backward(scale);
        }
        return sum / targets;
    }

    /** The held-out metrics (keys eval_*) of a metrics.jsonl line. */
    private static Map<String, Double> evalMetrics(JsonNode line) {
        Map<String, Double> m = new java.util.TreeMap<>();
        for (var e : line.properties()) if (e.getKey().startsWith("eval_")) m.put(e.getKey(), e.getValue().asDouble());
        return m;
    }

    /** The held-out rows in order, in micro-batches collated one at a time as they are read. */
    private Iterable<B> evalBatches() {
        return () -> new java.util.Iterator<>() {
            int from = 0;

            @Override
            public boolean hasNext() {
                return from < eval.size();
            }

            @Override
            public B next() {
                int[] rows = new int[Math.min(cfg.microBatch(), eval.size() - from)];
                for (int i = 0; i < rows.length; i++) rows[i] = from + i;
                from += rows.length;
                return eval.batch(rows);
            }
        };
    }

    /**
     * The step's rows collated into micro-batches (an NVTX range {@code batch}: host work before the
     * step); with {@code --cuda-graph} every row padded to the longest of the data, so that the
     * shapes repeat from step to step.
     */
    private List<B> microBatches(int[] rows) {
        Backend be = model.backend();
        be.rangePush("batch");
        try {
            List<B> out = new ArrayList<>();
            int length = cfg.cudaGraph() ? longestRow : 0;
            for (int from = 0; from < rows.length; from += cfg.microBatch()) {
                int[] part = java.util.Arrays.copyOfRange(rows, from, Math.min(from + cfg.microBatch(), rows.length));
                out.add(train.batch(part, length));
            }
            return out;
        } finally {
            be.rangePop();
        }
    }

    private long dropoutSeed(int step) {
        return dropoutSeed(cfg.seed(), step);
    }

    /** The seed of the dropout masks of step {@code step} (0-based) of a run seeded {@code seed}: a function of both only. */
    public static long dropoutSeed(long seed, int step) {
        return seed * 0xBF58476D1CE4E5B9L + step;
    }

    private TrainerState state(int step, DataOrder order, int metricsLines, int total) {
        return new TrainerState(step, step, total, metricsLines,
                new TrainerState.Data(cfg.seed(), train.size(), order.stepsPerEpoch(), order.epochOf(step),
                        Math.min(train.size(), (step % order.stepsPerEpoch()) * cfg.batch())),
                new TrainerState.Rng(cfg.seed(), dropoutSeed(step)), dataFiles);
    }

    /** The result a finished run logged: its final step, last training loss and first and last held-out metrics. */
    private Result finishedResult(TrainerState done, Path metricsFile) throws IOException {
        Map<String, Double> firstEval = Map.of(), lastEval = Map.of();
        double loss = Double.NaN;
        List<String> lines = Files.exists(metricsFile) ? Files.readAllLines(metricsFile) : List.of();
        for (String l : lines.subList(0, Math.min(lines.size(), done.metricsLines()))) {
            JsonNode m = TrainConfig.JSON.readTree(l);
            if (m.has("loss")) loss = m.get("loss").asDouble();
            if (m.has("eval_loss")) {
                if (firstEval.isEmpty()) firstEval = evalMetrics(m);
                lastEval = evalMetrics(m);
            }
        }
        return new Result(done.step(), loss, firstEval.getOrDefault("eval_loss", Double.NaN),
                lastEval.getOrDefault("eval_loss", Double.NaN), runDir.resolve("final"), firstEval, lastEval);
    }

    private TrainingDivergedException diverged(String what, Path lastGood) {
        return new TrainingDivergedException(what + ", so the run stopped; "
                + (lastGood == null ? "no checkpoint had been written yet" : "the last good checkpoint is " + lastGood));
    }

    private String title() {
        return task + " " + runDir.getFileName() + (cfg.lora() ? " (LoRA r=" + cfg.loraRank() + ")" : " (full)");
    }
}
