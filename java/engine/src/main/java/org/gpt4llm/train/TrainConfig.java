package org.gpt4llm.train;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import org.gpt4llm.io.AtomicFiles;

/**
 * Everything a fine-tuning run depends on, with the Alpaca / GPT-4-LLM recipe as defaults (3 epochs,
 * lr 2e-5, effective batch 128, no weight decay, 3% warmup, cosine decay, gradient clipping at 1).
 * Keys are the flag names, written snake_case in files ({@code max_len}); a config file may also
 * spell them as flags ({@code max-len}). Layers apply in order: defaults, the config file, the flags
 * given on the command line. The resolved object is saved as the run's {@code config.json}.
 */
public final class TrainConfig {
    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
            .enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    public String model;
    public String out;
    public String backend = "cpu";
    public long seed = 42;
    public List<String> data = new ArrayList<>();
    public int maxLen = 512;
    public int epochs = 3;
    /** Optimizer steps; when positive it replaces {@link #epochs} (as HF's max_steps). */
    public int maxSteps = -1;
    public double lr = 2e-5;
    /** Effective batch in sequences: one optimizer step consumes this many rows. */
    public int batch = 128;
    public int microBatch = 4;
    public double warmupRatio = 0.03;
    public String schedule = "cosine";
    public double weightDecay = 0.0;
    /** Maximum global gradient norm; 0 disables clipping. */
    public double gradClip = 1.0;
    /** Held-out loss every this many steps (and after the last); 0 only after the last. */
    public int evalEvery = 100;
    /** A checkpoint every this many steps; 0 disables intermediate checkpoints. */
    public int saveEvery = 500;
    /** Checkpoints kept (the newest); 0 keeps all. */
    public int keep = 3;
    public boolean resume;
    /** 0 means full fine-tuning. */
    public int loraRank = 0;
    public double loraAlpha = 16;
    public double loraDropout = 0.05;
    public List<String> loraTargets = new ArrayList<>(List.of("q_proj", "v_proj"));
    public boolean trainOnInputs;
    /** Language-model pretraining on the data's texts, each a document of its own (never prompt and response). */
    public boolean texts;
    public boolean packing;
    public boolean strict;
    /** Share of the records held out for the evaluation loss. */
    public double evalFraction = 0.05;
    /** Prompt template (alpaca, plain, chat); null picks one per data format (sft) or alpaca (rm). */
    public String template;
    /** Evaluate the held-out set once before the first step (logged as step 0). */
    public boolean evalOnStart;
    /** Reward models: the margin m of -log σ(r_chosen - r_rejected - m). */
    public double margin = 0;
    /** Reward models: weight of TRL's reward-centring term, mean of (r_chosen + r_rejected)². */
    public double centerRewardsCoefficient = 0;

    /** The defaults (the Alpaca recipe). */
    public TrainConfig() {}

    /**
     * The defaults of a reward-model run (DeepSpeed-Chat's step-2 and TRL's RewardTrainer): one epoch at
     * 1e-5, 0.1 weight decay, held-out metrics from before the first step.
     */
    public static TrainConfig rewardModelDefaults() {
        TrainConfig c = new TrainConfig();
        c.epochs = 1;
        c.lr = 1e-5;
        c.batch = 32;
        c.weightDecay = 0.1;
        c.evalOnStart = true;
        c.evalEvery = 50;
        c.evalFraction = 0.1;
        c.loraTargets = new ArrayList<>();
        return c;
    }

    /** Defaults, then {@code file} (JSON, or YAML by extension) when not null, then {@code flags}. */
    public static TrainConfig resolve(Path file, ObjectNode flags) throws IOException {
        return resolve(new TrainConfig(), file, flags);
    }

    /** {@code defaults}, then {@code file} (JSON, or YAML by extension) when not null, then {@code flags}. */
    public static TrainConfig resolve(TrainConfig defaults, Path file, ObjectNode flags) throws IOException {
        TrainConfig c = defaults;
        if (file != null) c.apply(readFile(file), file.toString());
        c.apply(flags, "the command line");
        return c;
    }

    /** The keys a config file may hold (snake_case). */
    public static TreeSet<String> keys() {
        TreeSet<String> keys = new TreeSet<>();
        JSON.valueToTree(new TrainConfig()).fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    /** Overrides the fields {@code values} names; an unknown key or a wrong type names {@code source}. */
    public void apply(JsonNode values, String source) {
        if (values == null || values.isNull() || values.isMissingNode()) return;
        if (!values.isObject()) throw new IllegalArgumentException(source + ": is not a mapping of keys to values");
        ObjectNode normalised = JSON.createObjectNode();
        for (Map.Entry<String, JsonNode> e : values.properties()) {
            normalised.set(e.getKey().replace('-', '_').toLowerCase(Locale.ROOT), e.getValue());
        }
        try {
            JSON.readerForUpdating(this).readValue(normalised);
        } catch (UnrecognizedPropertyException e) {
            throw new IllegalArgumentException(source + ": unknown key '" + e.getPropertyName() + "' (known keys: "
                    + String.join(", ", keys()) + ")");
        } catch (IOException e) {
            String key = e instanceof com.fasterxml.jackson.databind.JsonMappingException m && !m.getPath().isEmpty()
                    ? m.getPath().getFirst().getFieldName() : "?";
            throw new IllegalArgumentException(source + ": key '" + key + "' has a value of the wrong type");
        }
    }

    private static JsonNode readFile(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("--config " + file + " does not exist");
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        ObjectMapper parser = name.endsWith(".yaml") || name.endsWith(".yml") ? YAML : JSON;
        try {
            return parser.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + ": is not valid " + (parser == YAML ? "YAML" : "JSON") + " ("
                    + e.getOriginalMessage() + ")");
        }
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
        return this;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    public boolean lora() {
        return loraRank > 0;
    }

    public ObjectNode toJson() {
        return JSON.valueToTree(this);
    }

    /** Saves the resolved configuration (atomically); {@code --config} of this file reproduces the run. */
    public void save(Path file) throws IOException {
        AtomicFiles.write(file, (JSON.writeValueAsString(this) + "\n").getBytes(StandardCharsets.UTF_8));
    }
}
