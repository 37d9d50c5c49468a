package org.gpt4llm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backends;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.data.DataLoader;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.train.LoraFineTune;
import org.gpt4llm.train.PaddedRows;
import org.gpt4llm.data.Example;
import org.gpt4llm.data.SftDataset;
import org.gpt4llm.data.Split;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.train.BatchSource;
import org.gpt4llm.train.FullFineTune;
import org.gpt4llm.train.TrainConfig;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.TrainingDivergedException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code gpt4llm sft}: supervised fine-tuning of an HF LLaMA checkpoint on instruction data, full or
 * LoRA, into a run folder. Every flag may also come from {@code --config FILE} (JSON or YAML, keys
 * as the flags without dashes, snake_case); a flag given here wins over the file, the file over the
 * defaults (the Alpaca recipe). Options are boxed so that "not given" is visible.
 */
@Command(name = "sft", mixinStandardHelpOptions = true,
        description = "Fine-tune a model on instruction data (Alpaca JSON/JSONL or ShareGPT), full or LoRA, resumable.")
public final class SftCommand implements Callable<Integer> {
    private static final ObjectMapper VALUES = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--config", description = "JSON or YAML file with any of these options; flags win")
    Path config;

    @Option(names = "--model", description = "HF model folder (config.json, safetensors, tokenizer.json)")
    String model;

    @Option(names = "--out", description = "run folder: config.json, metrics.jsonl, checkpoints, final/, loss.png")
    String out;

    @Option(names = "--backend", description = "cpu, cuda or cuda-emu (default cpu)")
    String backend;

    @Option(names = "--seed", description = "data order, held-out split and dropout (default 42)")
    Long seed;

    @Option(names = "--data", split = ",", description = "data files, comma-separated")
    List<String> data;

    @Option(names = "--max-len", description = "tokens per example, longer ones are truncated (default 512)")
    Integer maxLen;

    @Option(names = "--epochs", description = "default 3")
    Integer epochs;

    @Option(names = "--max-steps", description = "optimizer steps; replaces --epochs when positive")
    Integer maxSteps;

    @Option(names = "--lr", description = "peak learning rate (default 2e-5)")
    Double lr;

    @Option(names = "--batch", description = "effective batch in sequences (default 128)")
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

    @Option(names = "--resume", description = "continue from the newest checkpoint in --out")
    Boolean resume;

    @Option(names = "--lora-rank", description = "train LoRA adapters of this rank instead of all weights")
    Integer loraRank;

    @Option(names = "--lora-alpha", description = "LoRA scale numerator (default 16)")
    Double loraAlpha;

    @Option(names = "--lora-dropout", description = "dropout on the LoRA input (default 0.05)")
    Double loraDropout;

    @Option(names = "--lora-targets", split = ",", description = "modules to adapt (default q_proj,v_proj)")
    List<String> loraTargets;

    @Option(names = "--train-on-inputs", description = "also train on the prompt tokens")
    Boolean trainOnInputs;

    @Option(names = "--packing", description = "pack several examples per row (no attention across them)")
    Boolean packing;

    @Option(names = "--strict", description = "a malformed record fails the run instead of being skipped")
    Boolean strict;

    @Option(names = "--eval-fraction", description = "share of records held out for the eval loss (default 0.05)")
    Double evalFraction;

    @Option(names = "--quiet", description = "no progress output")
    boolean quiet;

    @Option(names = "--threads", description = "CPU threads (default: all cores)")
    Integer threads;

    /** Training rows and held-out rows, as the trainer reads them. */
    public record TrainData(BatchSource<TokenBatch> train, BatchSource<TokenBatch> eval) {}

    @Override
    public Integer call() throws IOException {
        TrainConfig cfg = resolve();
        PrintWriter err = spec.commandLine().getErr();
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        try (Backend be = Backends.open(cfg.backend, nThreads); DecoderModel base = DecoderModel.load(be, Path.of(cfg.model))) {
            TrainableModel trainable = trainable(cfg, base);
            TrainData d = buildData(cfg, base);
            Trainer.Result r = new Trainer<>(cfg, trainable, d.train(), d.eval(), quiet, System.out).run();
            if (!quiet) {
                System.out.printf(Locale.ROOT, "%d steps, final loss %.4f, held-out loss %.4f -> %.4f; %s%n",
                        r.steps(), r.loss(), r.firstEvalLoss(), r.evalLoss(), r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /** Defaults, then --config, then the flags given here; validated. */
    TrainConfig resolve() throws IOException {
        return TrainConfig.resolve(config, flags()).validate();
    }

    /** The flags that were given, under their config keys. */
    ObjectNode flags() {
        ObjectNode f = JsonNodeFactory.instance.objectNode();
        putIfGiven(f, "model", model);
        putIfGiven(f, "out", out);
        putIfGiven(f, "backend", backend);
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
        putIfGiven(f, "lora_rank", loraRank);
        putIfGiven(f, "lora_alpha", loraAlpha);
        putIfGiven(f, "lora_dropout", loraDropout);
        putIfGiven(f, "lora_targets", loraTargets);
        putIfGiven(f, "train_on_inputs", trainOnInputs);
        putIfGiven(f, "packing", packing);
        putIfGiven(f, "strict", strict);
        putIfGiven(f, "eval_fraction", evalFraction);
        return f;
    }

    private static void putIfGiven(ObjectNode f, String key, Object value) {
        if (value == null) return;
        if (value instanceof List<?> list) {
            ArrayNode a = f.putArray(key);
            list.forEach(v -> a.add(v.toString()));
        } else {
            f.set(key, VALUES.valueToTree(value));
        }
    }

    /** The model the trainer updates: every weight, or (with --lora-rank) adapters on a frozen base. */
    static TrainableModel trainable(TrainConfig cfg, DecoderModel base) {
        if (cfg.lora()) {
            base.enableLora(new LoraConfig(cfg.loraRank, (float) cfg.loraAlpha, (float) cfg.loraDropout,
                    LoraConfig.parseTargets(String.join(",", cfg.loraTargets))), cfg.seed);
            return new LoraFineTune(base, Path.of(cfg.model));
        }
        return new FullFineTune(base, Path.of(cfg.model));
    }

    /**
     * The training and held-out rows: the records of {@code --data} read, templated and tokenised with
     * the tokenizer of {@code --model}, split by {@code --eval-fraction} with {@code --seed}, each
     * example (or packed group, with {@code --packing}) one row of a {@link org.gpt4llm.train.PaddedRows}.
     */
    static TrainData buildData(TrainConfig cfg, DecoderModel base) throws IOException {
        if (cfg.data.isEmpty()) throw new IllegalArgumentException("--data is required: the instruction files to train on");
        try (HfTokenizer tok = Tokenizers.load(Path.of(cfg.model))) {
            if (tok.vocabSize() > base.config().vocabSize()) {
                throw new IllegalArgumentException("--model " + cfg.model + ": the tokenizer has " + tok.vocabSize()
                        + " tokens but the model only " + base.config().vocabSize());
            }
            SftDataset ds = SftDataset.load(cfg.data.stream().map(Path::of).toList(), tok,
                    new SftDataset.Options(null, cfg.maxLen, cfg.trainOnInputs, cfg.strict));
            System.out.println(ds.report(5));
            if (ds.examples().isEmpty()) throw new IllegalArgumentException("--data: no usable record in " + cfg.data);
            Split<Example> split = Split.byFraction(ds.examples(), cfg.evalFraction, cfg.seed);
            int pad = tok.padId();
            return new TrainData(
                    new PaddedRows(DataLoader.inOrder(split.train(), 1, cfg.maxLen, cfg.packing, pad), pad),
                    split.eval().isEmpty() ? null
                            : new PaddedRows(DataLoader.inOrder(split.eval(), 1, cfg.maxLen, cfg.packing, pad), pad));
        }
    }
}
