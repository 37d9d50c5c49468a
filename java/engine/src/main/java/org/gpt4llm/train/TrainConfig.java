package org.gpt4llm.train;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.io.AtomicFiles;

/**
 * Everything a fine-tuning run depends on, with the Alpaca / GPT-4-LLM recipe as defaults (3 epochs,
 * lr 2e-5, effective batch 128, no weight decay, 3% warmup, cosine decay, gradient clipping at 1).
 * Keys are the flag names, written snake_case in files ({@code max_len}); a config file may also
 * spell them as flags ({@code max-len}). Layers apply in order: defaults, the config file, the flags
 * given on the command line ({@link #resolve}). The resolved record is saved as the run's
 * {@code config.json}, one key per component in this order; the defaults and what each value means
 * are with the fields of {@link Builder}.
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record TrainConfig(
        String model,
        String out,
        String backend,
        long seed,
        List<String> data,
        int maxLen,
        int epochs,
        int maxSteps,
        double lr,
        int batch,
        int microBatch,
        double warmupRatio,
        String schedule,
        double weightDecay,
        double gradClip,
        int evalEvery,
        int saveEvery,
        int keep,
        boolean resume,
        boolean acceptChangedData,
        int loraRank,
        double loraAlpha,
        double loraDropout,
        List<String> loraTargets,
        boolean trainOnInputs,
        boolean texts,
        boolean packing,
        boolean strict,
        double evalFraction,
        String template,
        boolean evalOnStart,
        double margin,
        double centerRewardsCoefficient,
        String loss,
        double beta,
        double labelSmoothing,
        boolean referenceFree,
        boolean cudaGraph,
        boolean recompute,
        boolean offloadOptimizer) {
    static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
            .enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    public TrainConfig {
        data = data == null ? List.of() : List.copyOf(data);
        loraTargets = loraTargets == null ? List.of() : List.copyOf(loraTargets);
    }

    /** The defaults (the Alpaca recipe), to set by name what differs. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The defaults of a reward-model run (DeepSpeed-Chat's step-2 and TRL's RewardTrainer): one epoch at
     * 1e-5, 0.1 weight decay, held-out metrics from before the first step.
     */
    public static Builder rewardModelDefaults() {
        return builder().epochs(1).lr(1e-5).batch(32).weightDecay(0.1).evalOnStart(true).evalEvery(50).evalFraction(0.1)
                .loraTargets(List.of());
    }

    /**
     * The defaults of a DPO run (TRL's DPOTrainer and LLaMA-Factory's dpo stage): one epoch at 5e-6, the
     * sigmoid loss with β 0.1, a held-out tenth measured every 50 steps.
     */
    public static Builder dpoDefaults() {
        return builder().epochs(1).lr(5e-6).batch(32).evalEvery(50).evalFraction(0.1);
    }

    /** The DPO loss these settings name (--loss, --beta, --label-smoothing, --reference-free). */
    public DpoLoss dpoLoss() {
        return new DpoLoss(DpoLoss.Type.parse(loss), (float) beta, (float) labelSmoothing, referenceFree);
    }

    /** A builder holding every value of this configuration, to change some of them. */
    public Builder toBuilder() {
        try {
            return JSON.updateValue(new Builder(), this); // the saved keys, so nothing can be left out
        } catch (JsonMappingException e) {
            throw new IllegalStateException("a configuration does not map onto its own builder", e);
        }
    }

    /** Defaults, then {@code file} (JSON, or YAML by extension) when not null, then {@code flags} (by key). */
    public static TrainConfig resolve(Path file, Map<String, ?> flags) throws IOException {
        return resolve(builder(), file, flags);
    }

    /** {@code defaults}, then {@code file} (JSON, or YAML by extension) when not null, then {@code flags} (by key). */
    public static TrainConfig resolve(Builder defaults, Path file, Map<String, ?> flags) throws IOException {
        if (file != null) defaults.apply(readFile(file), file.toString());
        return defaults.apply(flags, "the command line").build();
    }

    /** The keys a config file may hold (snake_case). */
    public static TreeSet<String> keys() {
        TreeSet<String> keys = new TreeSet<>();
        JSON.valueToTree(builder().build()).fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    /** The mapping in {@code file}, null when the file holds nothing. */
    private static Map<?, ?> readFile(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("--config " + file + " does not exist");
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        ObjectMapper parser = name.endsWith(".yaml") || name.endsWith(".yml") ? YAML : JSON;
        Object values;
        String text = TextFiles.read(file);
        try (MappingIterator<Object> docs = parser.readerFor(Object.class).readValues(text)) {
            values = docs.hasNextValue() ? docs.nextValue() : null;
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + ": is not valid " + (parser == YAML ? "YAML" : "JSON") + " ("
                    + e.getOriginalMessage() + ")");
        }
        if (values != null && !(values instanceof Map<?, ?>)) {
            throw new IllegalArgumentException(file + ": is not a mapping of keys to values");
        }
        return (Map<?, ?>) values;
    }

    /** Checks every value; a bad one is named by its flag. */
    public TrainConfig validate() {
        require(model != null && !model.isBlank(), "--model is required (a folder with config.json and weights)");
        require(out != null && !out.isBlank(), "--out is required (the run folder)");
        require(maxLen >= 2, "--max-len must be at least 2, got " + maxLen);
        require(epochs >= 1 || maxSteps > 0, "--epochs must be positive, got " + epochs);
        require(lr > 0 && Double.isFinite(lr), "--lr must be positive, got " + lr);
        require(batch >= 1, "--batch must be positive, got " + batch);
        require(microBatch >= 1, "--micro-batch must be positive, got " + microBatch);
        require(microBatch <= batch, "--micro-batch " + microBatch + " is larger than --batch " + batch);
        require(warmupRatio >= 0 && warmupRatio <= 1, "--warmup-ratio must be between 0 and 1, got " + warmupRatio);
        LrSchedule.Kind.parse(schedule);
        require(weightDecay >= 0, "--weight-decay must not be negative, got " + weightDecay);
        require(gradClip >= 0, "--grad-clip must not be negative (0 disables clipping), got " + gradClip);
        require(evalEvery >= 0, "--eval-every must not be negative, got " + evalEvery);
        require(saveEvery >= 0, "--save-every must not be negative, got " + saveEvery);
        require(keep >= 0, "--keep must not be negative (0 keeps all), got " + keep);
        require(loraRank >= 0, "--lora-rank must not be negative (0 is full fine-tuning), got " + loraRank);
        require(loraAlpha > 0, "--lora-alpha must be positive, got " + loraAlpha);
        require(loraDropout >= 0 && loraDropout < 1, "--lora-dropout must be in [0, 1), got " + loraDropout);
        require(loraRank == 0 || !loraTargets.isEmpty(), "--lora-targets must name at least one module");
        require(evalFraction >= 0 && evalFraction < 1, "--eval-fraction must be in [0, 1), got " + evalFraction);
        if (template != null) org.gpt4llm.data.Template.parse(template);
        require(Double.isFinite(margin), "--margin must be a number, got " + margin);
        require(centerRewardsCoefficient >= 0, "--center-rewards-coefficient must not be negative, got "
                + centerRewardsCoefficient);
        dpoLoss();
        return this;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    public boolean lora() {
        return loraRank > 0;
    }

    /** Saves the resolved configuration (atomically); {@code --config} of this file reproduces the run. */
    public void save(Path file) throws IOException {
        AtomicFiles.write(file, (JSON.writeValueAsString(this) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A {@link TrainConfig} set by name. Its fields hold the defaults, and {@link #apply} sets them from
     * a config file's or the command line's keys.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
            isGetterVisibility = JsonAutoDetect.Visibility.NONE, setterVisibility = JsonAutoDetect.Visibility.NONE)
    public static final class Builder {
        private String model;
        private String out;
        private String backend = "cpu";
        private long seed = 42;
        private List<String> data = List.of();
        private int maxLen = 512;
        private int epochs = 3;
        /** Optimizer steps; when positive it replaces {@link #epochs} (as HF's max_steps). */
        private int maxSteps = -1;
        private double lr = 2e-5;
        /** Effective batch in sequences: one optimizer step consumes this many rows. */
        private int batch = 128;
        private int microBatch = 4;
        private double warmupRatio = 0.03;
        private String schedule = "cosine";
        private double weightDecay = 0.0;
        /** Maximum global gradient norm; 0 disables clipping. */
        private double gradClip = 1.0;
        /** Held-out loss every this many steps (and after the last); 0 only after the last. */
        private int evalEvery = 100;
        /** A checkpoint every this many steps; 0 disables intermediate checkpoints. */
        private int saveEvery = 500;
        /** Checkpoints kept (the newest); 0 keeps all. */
        private int keep = 3;
        private boolean resume;
        /** --resume continues even where a --data file changed since the checkpoint was written. */
        private boolean acceptChangedData;
        /** 0 means full fine-tuning. */
        private int loraRank = 0;
        private double loraAlpha = 16;
        private double loraDropout = 0.05;
        private List<String> loraTargets = List.of("q_proj", "v_proj");
        private boolean trainOnInputs;
        /** Language-model pretraining on the data's texts, each a document of its own (never prompt and response). */
        private boolean texts;
        private boolean packing;
        private boolean strict;
        /** Share of the records held out for the evaluation loss. */
        private double evalFraction = 0.05;
        /** Prompt template (alpaca, plain, chat); null picks one per data format (sft) or alpaca (rm). */
        private String template;
        /** Evaluate the held-out set once before the first step (logged as step 0). */
        private boolean evalOnStart;
        /** Reward models: the margin m of -log σ(r_chosen - r_rejected - m). */
        private double margin = 0;
        /** Reward models: weight of TRL's reward-centring term, mean of (r_chosen + r_rejected)². */
        private double centerRewardsCoefficient = 0;
        /** DPO: the loss, sigmoid (DPO), ipo or hinge. */
        private String loss = "sigmoid";
        /** DPO: the temperature β of the implicit reward β log(π / π_ref). */
        private double beta = 0.1;
        /** DPO: the share ε of preference labels taken to be flipped (sigmoid loss only; cDPO). */
        private double labelSmoothing = 0;
        /** DPO: no reference model, its log-probabilities taken as 0. */
        private boolean referenceFree;
        /**
         * On a cuda backend: capture one whole step as a CUDA graph after a warm-up step and replay it,
         * every micro-batch padded to the longest row of the data so that their shapes repeat.
         */
        private boolean cudaGraph;
        /**
         * Keep only each decoder layer's input during the forward and recompute the layer in the
         * backward: the same gradients, less activation memory, about one more forward of work.
         */
        private boolean recompute;
        /**
         * On a cuda backend: fp32 master weights and AdamW's moments in host memory, the update on the CPU
         * (the device keeps the bf16 weights and the gradients); on the CPU a no-op, noted at the start.
         */
        private boolean offloadOptimizer;

        private Builder() {}

        /**
         * Overrides the fields {@code values} names (snake_case, or spelled as the flags); an unknown key or
         * a value of the wrong type is an error naming {@code source}. Null {@code values} change nothing.
         */
        public Builder apply(Map<?, ?> values, String source) {
            if (values == null) return this;
            Map<String, Object> normalised = new LinkedHashMap<>();
            values.forEach((k, v) -> normalised.put(String.valueOf(k).replace('-', '_').toLowerCase(Locale.ROOT), v));
            try {
                JSON.updateValue(this, normalised);
            } catch (UnrecognizedPropertyException e) {
                throw new IllegalArgumentException(source + ": unknown key '" + e.getPropertyName() + "' (known keys: "
                        + String.join(", ", keys()) + ")");
            } catch (JsonMappingException e) {
                String key = e.getPath().isEmpty() ? "?" : e.getPath().getFirst().getFieldName();
                throw new IllegalArgumentException(source + ": key '" + key + "' has a value of the wrong type");
            }
            return this;
        }

        public TrainConfig build() {
            return new TrainConfig(model, out, backend, seed, data, maxLen, epochs, maxSteps, lr, batch, microBatch,
                    warmupRatio, schedule, weightDecay, gradClip, evalEvery, saveEvery, keep, resume, acceptChangedData,
                    loraRank, loraAlpha, loraDropout, loraTargets, trainOnInputs, texts, packing, strict, evalFraction,
                    template, evalOnStart, margin, centerRewardsCoefficient, loss, beta, labelSmoothing, referenceFree, cudaGraph,
                    recompute, offloadOptimizer);
        }

        public Builder model(String v) {
            model = v;
            return this;
        }

        public Builder out(String v) {
            out = v;
            return this;
        }

        public Builder backend(String v) {
            backend = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder data(List<String> v) {
            data = v;
            return this;
        }

        public Builder maxLen(int v) {
            maxLen = v;
            return this;
        }

        public Builder epochs(int v) {
            epochs = v;
            return this;
        }

        public Builder maxSteps(int v) {
            maxSteps = v;
            return this;
        }

        public Builder lr(double v) {
            lr = v;
            return this;
        }

        public Builder batch(int v) {
            batch = v;
            return this;
        }

        public Builder microBatch(int v) {
            microBatch = v;
            return this;
        }

        public Builder warmupRatio(double v) {
            warmupRatio = v;
            return this;
        }

        public Builder schedule(String v) {
            schedule = v;
            return this;
        }

        public Builder weightDecay(double v) {
            weightDecay = v;
            return this;
        }

        public Builder gradClip(double v) {
            gradClip = v;
            return this;
        }

        public Builder evalEvery(int v) {
            evalEvery = v;
            return this;
        }

        public Builder saveEvery(int v) {
            saveEvery = v;
            return this;
        }

        public Builder keep(int v) {
            keep = v;
            return this;
        }

        public Builder resume(boolean v) {
            resume = v;
            return this;
        }

        public Builder acceptChangedData(boolean v) {
            acceptChangedData = v;
            return this;
        }

        public Builder loraRank(int v) {
            loraRank = v;
            return this;
        }

        public Builder loraAlpha(double v) {
            loraAlpha = v;
            return this;
        }

        public Builder loraDropout(double v) {
            loraDropout = v;
            return this;
        }

        public Builder loraTargets(List<String> v) {
            loraTargets = v;
            return this;
        }

        public Builder trainOnInputs(boolean v) {
            trainOnInputs = v;
            return this;
        }

        public Builder texts(boolean v) {
            texts = v;
            return this;
        }

        public Builder packing(boolean v) {
            packing = v;
            return this;
        }

        public Builder strict(boolean v) {
            strict = v;
            return this;
        }

        public Builder evalFraction(double v) {
            evalFraction = v;
            return this;
        }

        public Builder template(String v) {
            template = v;
            return this;
        }

        public Builder evalOnStart(boolean v) {
            evalOnStart = v;
            return this;
        }

        public Builder margin(double v) {
            margin = v;
            return this;
        }

        public Builder centerRewardsCoefficient(double v) {
            centerRewardsCoefficient = v;
            return this;
        }

        public Builder loss(String v) {
            loss = v;
            return this;
        }

        public Builder beta(double v) {
            beta = v;
            return this;
        }

        public Builder labelSmoothing(double v) {
            labelSmoothing = v;
            return this;
        }

        public Builder referenceFree(boolean v) {
            referenceFree = v;
            return this;
        }

        public Builder cudaGraph(boolean v) {
            cudaGraph = v;
            return this;
        }

        public Builder recompute(boolean v) {
            recompute = v;
            return this;
        }

        public Builder offloadOptimizer(boolean v) {
            offloadOptimizer = v;
            return this;
        }
    }
}
