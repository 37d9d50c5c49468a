package org.gpt4llm.api;

import java.util.List;
import org.gpt4llm.data.Template;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.train.LrSchedule;
import org.gpt4llm.train.parallel.DataParallel;

/**
 * How {@link Engine#fineTune} trains: full or LoRA, the optimizer (AdamW, betas 0.9/0.999, eps 1e-8)
 * and the data options. A mutable builder: every setter returns this. {@link Engine#fineTune} takes
 * a copy, so changing the options later does not change a fine-tuning already started.
 *
 * <p>Defaults: full fine-tuning, learning rate 2e-5 (Alpaca's), constant schedule without warmup,
 * no weight decay, gradient clipping at norm 1, 4 examples per step in micro-batches of 4, 512
 * tokens per example, Alpaca's prompt template, loss on the response only, seed 42, a malformed
 * example is an error, and one device.
 *
 * <p>On several devices ({@link #devices}), each step's examples are spread over the devices as
 * {@code gpt4llm sft --gpus N} spreads them: the batch stays the global one, the micro-batch is per
 * device, and the losses and weights are those of one device (up to the order of the sums).
 */
public final class FineTuneOptions {
    private int loraRank;
    private double loraAlpha = 16, loraDropout = 0.05;
    private List<String> loraTargets = List.of("q_proj", "v_proj");
    private double lr = 2e-5, warmupRatio, weightDecay, gradClip = 1;
    private String schedule = "constant";
    private int totalSteps, batch = 4, microBatch = 4, maxLen = 512;
    private Template template = Template.ALPACA;
    private boolean trainOnInputs;
    private long seed = 42;
    private boolean strict = true;
    private int devices = 1, zero;

    private FineTuneOptions() {}

    /** Full fine-tuning: every weight is trained. */
    public static FineTuneOptions full() {
        return new FineTuneOptions();
    }

    /**
     * LoRA of rank {@code rank} (alpha 16, dropout 0.05, on q_proj and v_proj unless changed): adapters
     * are added to the model (or, when it was loaded with one, that adapter is trained further) and the
     * base weights stay frozen.
     */
    public static FineTuneOptions lora(int rank) {
        FineTuneOptions o = new FineTuneOptions();
        o.loraRank = rank;
        return o;
    }

    /** LoRA's scale numerator: the adapters' output is multiplied by alpha / rank. */
    public FineTuneOptions loraAlpha(double alpha) {
        this.loraAlpha = alpha;
        return this;
    }

    /** Dropout on the adapters' input during training, in [0, 1). */
    public FineTuneOptions loraDropout(double p) {
        this.loraDropout = p;
        return this;
    }

    /** The linear layers that get adapters, e.g. q_proj, k_proj, v_proj, o_proj (LLaMA) or fc1 (OPT). */
    public FineTuneOptions loraTargets(String... targets) {
        this.loraTargets = List.of(targets);
        return this;
    }

    /** The peak learning rate. */
    public FineTuneOptions lr(double lr) {
        this.lr = lr;
        return this;
    }

    /**
     * A decaying schedule over {@code totalSteps} steps: {@code cosine}, {@code linear} or
     * {@code constant} (HF transformers' schedules), warming up linearly over the first
     * {@code warmupRatio} of them. Steps past {@code totalSteps} keep the rate of the last one.
     */
    public FineTuneOptions schedule(String kind, int totalSteps, double warmupRatio) {
        this.schedule = kind;
        this.totalSteps = totalSteps;
        this.warmupRatio = warmupRatio;
        return this;
    }

    /** AdamW's decoupled weight decay (not applied to biases and norm weights). */
    public FineTuneOptions weightDecay(double decay) {
        this.weightDecay = decay;
        return this;
    }

    /** The largest global gradient norm; larger gradients are scaled down to it. 0: no clipping. */
    public FineTuneOptions gradClip(double maxNorm) {
        this.gradClip = maxNorm;
        return this;
    }

    /** Examples per optimizer step of {@link FineTuning#train}. */
    public FineTuneOptions batch(int examples) {
        this.batch = examples;
        return this;
    }

    /** Examples per forward pass; a step's gradients accumulate over its micro-batches. */
    public FineTuneOptions microBatch(int examples) {
        this.microBatch = examples;
        return this;
    }

    /** Tokens per example at most; longer ones lose the end of their response. */
    public FineTuneOptions maxLen(int tokens) {
        this.maxLen = tokens;
        return this;
    }

    /** The prompt template examples are formatted with (the one to generate with afterwards). */
    public FineTuneOptions template(Template template) {
        this.template = template;
        return this;
    }

    /** Also train on the prompt tokens, not only the response. */
    public FineTuneOptions trainOnInputs(boolean on) {
        this.trainOnInputs = on;
        return this;
    }

    /** Seed of the data order, the adapters' initialisation and the dropout masks. */
    public FineTuneOptions seed(long seed) {
        this.seed = seed;
        return this;
    }

    /** false: a record of a data file that cannot be used is skipped instead of failing {@link FineTuning#train(java.nio.file.Path, int)}. */
    public FineTuneOptions strict(boolean strict) {
        this.strict = strict;
        return this;
    }

    /**
     * Devices to train on, as {@code --gpus}: the engine's device and {@code count - 1} more of its
     * backend (GPUs 1.. for {@code cuda}, talking through NCCL; more emulated devices for {@code cpu}
     * and {@code cuda-emu}), each with its own copy of the model.
     */
    public FineTuneOptions devices(int count) {
        this.devices = count;
        return this;
    }

    /**
     * The ZeRO stage with several devices, as {@code --zero}: 0 sums the gradients on every device, 1
     * also shards the fp32 master weights and moments over them, 2 also reduce-scatters the gradients.
     */
    public FineTuneOptions zero(int stage) {
        this.zero = stage;
        return this;
    }

    FineTuneOptions copy() {
        FineTuneOptions o = new FineTuneOptions();
        o.loraRank = loraRank;
        o.loraAlpha = loraAlpha;
        o.loraDropout = loraDropout;
        o.loraTargets = loraTargets;
        o.lr = lr;
        o.warmupRatio = warmupRatio;
        o.weightDecay = weightDecay;
        o.gradClip = gradClip;
        o.schedule = schedule;
        o.totalSteps = totalSteps;
        o.batch = batch;
        o.microBatch = microBatch;
        o.maxLen = maxLen;
        o.template = template;
        o.trainOnInputs = trainOnInputs;
        o.seed = seed;
        o.strict = strict;
        o.devices = devices;
        o.zero = zero;
        return o;
    }

    /** Checks every value; a bad one is named in one sentence. */
    FineTuneOptions validate() {
        require(loraRank >= 0, "the LoRA rank must not be negative, got " + loraRank);
        if (loraRank > 0) lora(); // LoraConfig checks alpha, dropout and targets
        require(lr > 0 && Double.isFinite(lr), "the learning rate must be positive, got " + lr);
        LrSchedule.Kind kind = LrSchedule.Kind.parse(schedule);
        require(kind == LrSchedule.Kind.CONSTANT || totalSteps > 0, "a " + schedule + " schedule needs its total steps");
        require(warmupRatio == 0 || totalSteps > 0, "a warmup needs the schedule's total steps");
        require(warmupRatio >= 0 && warmupRatio <= 1, "the warmup ratio must be between 0 and 1, got " + warmupRatio);
        require(weightDecay >= 0, "the weight decay must not be negative, got " + weightDecay);
        require(gradClip >= 0, "the gradient clip must not be negative (0: none), got " + gradClip);
        require(batch >= 1, "the batch must hold at least one example, got " + batch);
        require(microBatch >= 1, "the micro-batch must hold at least one example, got " + microBatch);
        require(maxLen >= 2, "the maximum length must be at least 2 tokens, got " + maxLen);
        require(template != null, "a template is needed");
        require(devices >= 1, "the fine-tuning needs at least one device, got " + devices);
        DataParallel.requireStage(zero);
        return this;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    int loraRank() {
        return loraRank;
    }

    /** The LoRA configuration (rank > 0). */
    LoraConfig lora() {
        return new LoraConfig(loraRank, (float) loraAlpha, (float) loraDropout, loraTargets);
    }

    double lr() {
        return lr;
    }

    /** The schedule; a constant one needs no length. */
    LrSchedule lrSchedule() {
        return LrSchedule.of(schedule, lr, warmupRatio, Math.max(1, totalSteps));
    }

    int totalSteps() {
        return totalSteps;
    }

    double weightDecay() {
        return weightDecay;
    }

    double gradClip() {
        return gradClip;
    }

    int batch() {
        return batch;
    }

    int microBatch() {
        return microBatch;
    }

    int maxLen() {
        return maxLen;
    }

    Template template() {
        return template;
    }

    boolean trainOnInputs() {
        return trainOnInputs;
    }

    long seed() {
        return seed;
    }

    boolean strict() {
        return strict;
    }

    int devices() {
        return devices;
    }

    int zero() {
        return zero;
    }
}
