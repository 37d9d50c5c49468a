package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.train.TrainConfig;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The flags every training command shares ({@code sft}, {@code rm}). Each may also come from
 * {@code --config FILE} (JSON or YAML, keys as the flags without dashes, snake_case); a flag given here
 * wins over the file, the file over the command's defaults. Flags are boxed so that "not given" is
 * visible. So {@code --model} and {@code --out} are declared here, not required as {@link ModelFlag}
 * and {@link OutFlag} are: the file may give them. {@code --backend} and {@code --threads} are
 * {@link BackendFlags}.
 */
final class TrainingFlags {
    @Option(names = "--config", description = "JSON or YAML file with any of these options; flags win")
    Path config;

    @Option(names = "--model", description = "HF model folder (config.json, safetensors, tokenizer.json)")
    String model;

    @Option(names = "--out", description = "run folder: config.json, metrics.jsonl, checkpoints, final/, loss.png")
    String out;

    @Mixin
    BackendFlags backend = new BackendFlags();

    @Mixin
    ParallelFlags parallel = new ParallelFlags();

    @Option(names = "--seed", description = "data order, held-out split and dropout (default 42)")
    Long seed;

    @Option(names = "--data", split = ",", description = "data files, comma-separated")
    List<String> data;

    @Option(names = "--max-len", description = "tokens per example, longer ones are truncated (default 512)")
    Integer maxLen;

    @Option(names = "--epochs", description = "default: sft 3, rm and dpo 1")
    Integer epochs;

    @Option(names = "--max-steps", description = "optimizer steps; replaces --epochs when positive")
    Integer maxSteps;

    @Option(names = "--lr", description = "peak learning rate (default: sft 2e-5, rm 1e-5, dpo 5e-6)")
    Double lr;

    @Option(names = "--batch", description = "effective batch: sequences (sft), prompts (rm) or pairs (dpo); default 128, rm and dpo 32")
    Integer batch;

    @Option(names = "--micro-batch", description = "sequences per forward pass; gradients accumulate (default 4)")
    Integer microBatch;

    @Option(names = "--warmup-ratio", description = "share of steps warming up (default 0.03)")
    Double warmupRatio;

    @Option(names = "--schedule", description = "cosine, linear or constant (default cosine)")
    String schedule;

    @Option(names = "--weight-decay", description = "AdamW weight decay, not applied to norm weights (default 0)")
    Double weightDecay;

    @Option(names = "--grad-clip", description = "maximum global gradient norm, 0 for none (default 1.0)")
    Double gradClip;

    @Option(names = "--eval-every", description = "held-out loss every N steps and after the last (default 100)")
    Integer evalEvery;

    @Option(names = "--save-every", description = "checkpoint every N steps, 0 for none (default 500)")
    Integer saveEvery;

    @Option(names = "--keep", description = "checkpoints kept, newest first, 0 for all (default 3)")
    Integer keep;

    @Option(names = "--resume", description = "continue from the newest checkpoint in --out (a finished run: nothing to do)")
    Boolean resume;

    @Option(names = "--accept-changed-data", description = "--resume even where a --data file changed since the checkpoint")
    Boolean acceptChangedData;

    @Option(names = "--lora-rank", description = "train LoRA adapters of this rank instead of all weights")
    Integer loraRank;

    @Option(names = "--lora-alpha", description = "LoRA scale numerator (default 16)")
    Double loraAlpha;

    @Option(names = "--lora-dropout", description = "dropout on the LoRA input (default 0.05)")
    Double loraDropout;

    @Option(names = "--lora-targets", split = ",", description = "modules to adapt (default q_proj,v_proj)")
    List<String> loraTargets;

    @Option(names = "--strict", description = "a malformed record fails the run instead of being skipped")
    Boolean strict;

    @Option(names = "--eval-fraction", description = "share of records held out for the eval loss (default 0.05)")
    Double evalFraction;

    @Option(names = "--quiet", description = "no progress output")
    boolean quiet;

    @Option(names = "--template", description = "prompt template: alpaca, plain or chat (sft: by data format, rm: alpaca)")
    String template;

    @Option(names = "--eval-on-start", description = "held-out metrics once before the first step, as step 0 (rm: on)")
    Boolean evalOnStart;

    @Option(names = "--cuda-graph", description = "cuda backends: capture one whole step as a CUDA graph after a warm-up"
            + " step and replay it (rows padded to the longest of the data; other shapes run eagerly)")
    Boolean cudaGraph;

    @Option(names = "--recompute", description = "keep only each layer's input in the forward and recompute the layer"
            + " in the backward: the same gradients, less activation memory, about a third more compute")
    Boolean recompute;

    @Option(names = "--offload-optimizer", description = "cuda backends: fp32 master weights and AdamW's moments in"
            + " (pinned) host memory, the update on the CPU; the GPU keeps the bf16 weights and gradients")
    Boolean offloadOptimizer;

    /** The flags that were given, under their config keys (those of {@link org.gpt4llm.train.TrainConfig}). */
    Map<String, Object> flags() {
        Map<String, Object> f = new LinkedHashMap<>();
        putIfGiven(f, "model", model);
        putIfGiven(f, "out", out);
        putIfGiven(f, "backend", backend.given());
        putIfGiven(f, "seed", seed);
        putIfGiven(f, "data", data);
        putIfGiven(f, "max_len", maxLen);
        putIfGiven(f, "epochs", epochs);
        putIfGiven(f, "max_steps", maxSteps);
        putIfGiven(f, "lr", lr);
        putIfGiven(f, "batch", batch);
        putIfGiven(f, "micro_batch", microBatch);
        putIfGiven(f, "warmup_ratio", warmupRatio);
        putIfGiven(f, "schedule", schedule);
        putIfGiven(f, "weight_decay", weightDecay);
        putIfGiven(f, "grad_clip", gradClip);
        putIfGiven(f, "eval_every", evalEvery);
        putIfGiven(f, "save_every", saveEvery);
        putIfGiven(f, "keep", keep);
        putIfGiven(f, "resume", resume);
        putIfGiven(f, "accept_changed_data", acceptChangedData);
        putIfGiven(f, "lora_rank", loraRank);
        putIfGiven(f, "lora_alpha", loraAlpha);
        putIfGiven(f, "lora_dropout", loraDropout);
        putIfGiven(f, "lora_targets", loraTargets);
        putIfGiven(f, "strict", strict);
        putIfGiven(f, "eval_fraction", evalFraction);
        putIfGiven(f, "eval_on_start", evalOnStart);
        putIfGiven(f, "template", template);
        putIfGiven(f, "cuda_graph", cudaGraph);
        putIfGiven(f, "recompute", recompute);
        putIfGiven(f, "offload_optimizer", offloadOptimizer);
        return f;
    }

    /** The run's model folder (of --model or the config), refused in one sentence unless it is one. */
    static Path modelFolder(TrainConfig cfg) {
        return ModelFlag.requireModelFolder("--model", Path.of(cfg.model()));
    }

    /** Sets {@code key} when a flag was given (lists as lists of strings). */
    static void putIfGiven(Map<String, Object> f, String key, Object value) {
        if (value == null) return;
        f.put(key, value instanceof List<?> list ? list.stream().map(Object::toString).toList() : value);
    }
}
