package org.gpt4llm.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.data.DataLoader;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.train.LoraFineTune;
import org.gpt4llm.data.PaddedRows;
import org.gpt4llm.data.Example;
import org.gpt4llm.data.SftDataset;
import org.gpt4llm.data.Split;
import org.gpt4llm.data.Template;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.train.FullFineTune;
import org.gpt4llm.train.RunStart;
import org.gpt4llm.train.TrainConfig;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.TrainingDivergedException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;
import org.gpt4llm.train.parallel.DataParallel;

/**
 * {@code gpt4llm sft}: supervised fine-tuning of an HF LLaMA or OPT checkpoint on instruction data, full or
 * LoRA, into a run folder, with the {@link TrainingFlags} every training command has (defaults: the
 * Alpaca recipe).
 */
@Command(name = "sft", mixinStandardHelpOptions = true,
        description = "Fine-tune a model on instruction data (Alpaca JSON/JSONL or ShareGPT), full or LoRA, resumable.")
public final class SftCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    TrainingFlags common = new TrainingFlags();

    @Mixin
    SftFlags sftFlags = new SftFlags();

    @Mixin
    WeightTypeFlag weights = new WeightTypeFlag();

    /** Training rows and held-out rows, as the trainer reads them. */
    public record TrainData(BatchSource<TokenBatch> train, BatchSource<TokenBatch> eval) {}

    @Override
    public Integer call() throws IOException {
        return train(resolve());
    }

    /** Trains the run {@code cfg} describes (also what {@code rft} does with the answers it kept): its exit status. */
    int train(TrainConfig cfg) throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        Path modelDir = TrainingFlags.modelFolder(cfg);
        RunStart start = RunStart.check(cfg); // before anything is loaded: a refusal or a finished run costs nothing
        if (start.finished()) {
            System.out.println(start.finishedMessage());
            return 0;
        }
        ParallelFlags.Layout layout = common.parallel.layout(System.getenv());
        if (layout.parallel()) {
            if (weights.dtype != null) {
                throw new IllegalArgumentException("--dtype " + weights.dtype + " applies to training on one device;"
                        + " on several, each keeps its backend's own weight type");
            }
            return callParallel(cfg, start, layout, modelDir, err);
        }
        try (Backend be = common.backend.open(cfg.backend(), weights.training(cfg.backend(), modelDir, cfg.loraRank() > 0));
             DecoderModel base = DecoderModels.load(be, modelDir)) {
            TrainableModel trainable = trainable(cfg, base);
            TrainData d = buildData(cfg, base);
            Trainer.Result r = new Trainer<>(cfg, trainable, d.train(), d.eval(), common.quiet, System.out).run(start);
            if (!common.quiet) {
                System.out.printf(Locale.ROOT, "%d steps, final loss %.4f, held-out loss %.4f -> %.4f; %s%n",
                        r.steps(), r.loss(), r.firstEvalLoss(), r.evalLoss(), r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /** {@link #call} on several devices: a replica per device, node 0 alone writing the run. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private int callParallel(TrainConfig cfg, RunStart start, ParallelFlags.Layout layout, Path modelDir, PrintWriter err)
            throws IOException {
        TrainConfig nodeCfg = ParallelTraining.forThisNode(cfg, layout);
        boolean quiet = common.quiet || layout.nodeRank() > 0;
        try (ParallelTraining<DecoderModel> devices = ParallelTraining.open(layout, cfg, common.backend.threads(),
                be -> DecoderModels.load(be, modelDir))) {
            List<TrainableModel<TokenBatch>> replicas = new java.util.ArrayList<>();
            for (DecoderModel m : devices.models) replicas.add(trainable(cfg, m));
            TrainData d = buildData(cfg, devices.models.get(0));
            DataParallel<TokenBatch> engine = devices.engine(replicas, cfg, System.out);
            Trainer.Result r = new Trainer<>(nodeCfg, replicas.get(0), d.train(), d.eval(), quiet, System.out)
                    .withSteps(engine).run(devices.startOnThisNode(cfg, nodeCfg, start));
            if (!quiet) {
                System.out.printf(Locale.ROOT, "%d steps on %d devices (ZeRO %d), final loss %.4f, held-out loss %.4f -> %.4f;"
                        + " %s%n", r.steps(), layout.world(), layout.zero(), r.loss(), r.firstEvalLoss(), r.evalLoss(),
                        r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /** Defaults, then --config, then the flags given here; validated. */
    TrainConfig resolve() throws IOException {
        return TrainConfig.resolve(common.config, flags()).validate();
    }

    /** The flags that were given, under their config keys. */
    Map<String, Object> flags() {
        Map<String, Object> f = common.flags();
        sftFlags.putInto(f);
        return f;
    }

    /** The model the trainer updates: every weight, or (with --lora-rank) adapters on a frozen base. */
    static TrainableModel trainable(TrainConfig cfg, DecoderModel base) {
        base.setRecompute(cfg.recompute());
        if (cfg.lora()) {
            base.enableLora(loraConfig(cfg), cfg.seed());
            return new LoraFineTune(base, Path.of(cfg.model()));
        }
        return new FullFineTune(base, Path.of(cfg.model()));
    }

    /** The adapters --lora-rank, --lora-alpha, --lora-dropout and --lora-targets ask for. */
    static LoraConfig loraConfig(TrainConfig cfg) {
        return new LoraConfig(cfg.loraRank(), (float) cfg.loraAlpha(), (float) cfg.loraDropout(),
                LoraConfig.parseTargets(String.join(",", cfg.loraTargets())));
    }

    /**
     * The training and held-out rows: the records of {@code --data} read, templated and tokenised with
     * the tokenizer of {@code --model}, split by {@code --eval-fraction} with {@code --seed}, each
     * example (or packed group, with {@code --packing}) one row of a {@link org.gpt4llm.data.PaddedRows}.
     */
    static TrainData buildData(TrainConfig cfg, DecoderModel base) throws IOException {
        if (cfg.data().isEmpty()) throw new IllegalArgumentException("--data is required: the instruction files to train on");
        // checked against the model's vocabulary: a token the embedding table lacks would fail mid-run
        try (HfTokenizer tok = Tokenizers.load(Path.of(cfg.model()), base.config().vocabSize())) {
            SftDataset ds = SftDataset.load(cfg.data().stream().map(Path::of).toList(), tok,
                    new SftDataset.Options(cfg.template() == null ? null : Template.parse(cfg.template()), cfg.maxLen(),
                            cfg.trainOnInputs(), cfg.strict(), cfg.texts()));
            System.out.println(ds.report(5));
            if (ds.examples().isEmpty()) throw new IllegalArgumentException("--data: no usable record in " + cfg.data());
            Split<Example> split = Split.byFraction(ds.examples(), cfg.evalFraction(), cfg.seed());
            int pad = tok.padId();
            return new TrainData(
                    new PaddedRows(DataLoader.inOrder(split.train(), 1, cfg.maxLen(), cfg.packing(), pad), pad),
                    split.eval().isEmpty() ? null
                            : new PaddedRows(DataLoader.inOrder(split.eval(), 1, cfg.maxLen(), cfg.packing(), pad), pad));
        }
    }
}
