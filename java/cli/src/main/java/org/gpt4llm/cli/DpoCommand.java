package org.gpt4llm.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.data.DpoDataset;
import org.gpt4llm.data.PreferencePairs;
import org.gpt4llm.data.PreferenceReader;
import org.gpt4llm.data.ScoredGroup;
import org.gpt4llm.data.Split;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.train.DpoTraining;
import org.gpt4llm.train.ReferenceLogProbs;
import org.gpt4llm.data.DpoBatch;
import org.gpt4llm.train.RunStart;
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.TrainConfig;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.TrainingDivergedException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code gpt4llm dpo}: Direct Preference Optimization of an SFT model (LLaMA or OPT) on preference data,
 * the formats {@code rm} reads: the paper's comparison data (every score-ordered pair of a prompt's K
 * responses; ties skipped, repeated responses dropped, both counted) and chosen/rejected pairs. Full
 * fine-tuning or LoRA, into a run folder, with the {@link TrainingFlags} every training command has; a
 * batch is {@code --batch} pairs. The reference is a separate frozen copy of {@code --model} (full
 * fine-tuning) or the same base with the adapters switched off (LoRA); its log-probabilities are computed
 * once before the first step and cached in the run folder ({@link ReferenceLogProbs}). With {@code --gpus N}
 * (and {@code --zero}) the steps run data-parallel as {@code sft}'s do, the global batch spread over the devices.
 */
@Command(name = "dpo", mixinStandardHelpOptions = true,
        description = "Train an SFT model further on preference data (comparison data, chosen/rejected pairs) with"
                + " DPO (sigmoid, IPO or hinge loss), full or LoRA, resumable.")
public final class DpoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    TrainingFlags common = new TrainingFlags();

    @Option(names = "--loss", description = "sigmoid (DPO, the default), ipo or hinge")
    String loss;

    @Option(names = "--beta", description = "temperature β of the implicit reward β log(π/π_ref) (default 0.1)")
    Double beta;

    @Option(names = "--label-smoothing", description = "share of preferences taken as flipped, sigmoid loss only (default 0)")
    Double labelSmoothing;

    @Option(names = "--reference-free", description = "no reference model: its log-probabilities taken as 0")
    Boolean referenceFree;

    /** The pairs to train on and the held-out ones (null when none are held out). */
    public record Data(DpoDataset train, DpoDataset eval) {}

    @Override
    public Integer call() throws IOException {
        Map<String, Object> flags = common.flags();
        TrainingFlags.putIfGiven(flags, "loss", loss);
        TrainingFlags.putIfGiven(flags, "beta", beta);
        TrainingFlags.putIfGiven(flags, "label_smoothing", labelSmoothing);
        TrainingFlags.putIfGiven(flags, "reference_free", referenceFree);
        TrainConfig cfg = TrainConfig.resolve(TrainConfig.dpoDefaults(), common.config, flags).validate();
        if (cfg.data().isEmpty()) throw new IllegalArgumentException("--data is required: the preference files to train on");
        PrintWriter err = spec.commandLine().getErr();
        Path modelDir = TrainingFlags.modelFolder(cfg);
        RunStart start = RunStart.check(cfg); // before anything is loaded: a refusal or a finished run costs nothing
        if (start.finished()) {
            System.out.println(start.finishedMessage());
            return 0;
        }
        ParallelFlags.Layout layout = common.parallel.layout(System.getenv());
        if (layout.parallel()) return callParallel(cfg, start, layout, modelDir, err);
        try (Backend be = common.backend.open(cfg.backend()); DecoderModel policy = DecoderModels.load(be, modelDir)) {
            Trainer.Result r = run(cfg, start, be, policy, modelDir, common.quiet);
            if (!common.quiet) {
                System.out.printf(Locale.ROOT, "%d steps, final loss %.4f, held-out preference accuracy %s -> %s; %s%n",
                        r.steps(), r.loss(), metric(r.firstEval()), metric(r.lastEval()), r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /** {@link #call} on several devices: a replica of the policy per device, node 0 alone writing the run. */
    private int callParallel(TrainConfig cfg, RunStart start, ParallelFlags.Layout layout, Path modelDir, PrintWriter err)
            throws IOException {
        TrainConfig nodeCfg = ParallelTraining.forThisNode(cfg, layout);
        boolean quiet = common.quiet || layout.nodeRank() > 0;
        try (ParallelTraining<DecoderModel> devices = ParallelTraining.open(layout, cfg, common.backend.threads(),
                be -> DecoderModels.load(be, modelDir))) {
            List<DpoTraining> replicas = new ArrayList<>();
            for (DecoderModel m : devices.models) replicas.add(task(cfg, m));
            replicas.get(0).reportFor(replicas);
            Data data = prepare(nodeCfg, devices.backends.get(0), devices.models.get(0), modelDir);
            DataParallel<DpoBatch> engine = devices.engine(replicas, cfg, System.out);
            Trainer.Result r = new Trainer<>("dpo", nodeCfg, replicas.get(0), data.train(), data.eval(), quiet, System.out)
                    .withSteps(engine).run(devices.startOnThisNode(cfg, nodeCfg, start));
            if (!quiet) {
                System.out.printf(Locale.ROOT, "%d steps on %d devices (ZeRO %d), final loss %.4f, held-out preference"
                        + " accuracy %s -> %s; %s%n", r.steps(), layout.world(), layout.zero(), r.loss(),
                        metric(r.firstEval()), metric(r.lastEval()), r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /**
     * A whole DPO run of {@code policy} (loaded from {@code modelDir} on {@code be}) as {@code cfg} says:
     * the pairs read and split, the reference log-probabilities attached (cached in the run folder), then
     * the trainer. {@code start} is {@link RunStart#check} of {@code cfg}.
     */
    public static Trainer.Result run(TrainConfig cfg, RunStart start, Backend be, DecoderModel policy, Path modelDir,
                                     boolean quiet) throws IOException {
        DpoTraining task = task(cfg, policy);
        Data data = prepare(cfg, be, policy, modelDir);
        return new Trainer<>("dpo", cfg, task, data.train(), data.eval(), quiet, System.out).run(start);
    }

    /** The DPO task of {@code policy}: full fine-tuning or LoRA as {@code cfg} says, with its loss. */
    @SuppressWarnings("unchecked")
    private static DpoTraining task(TrainConfig cfg, DecoderModel policy) {
        return new DpoTraining(SftCommand.trainable(cfg, policy), cfg.dpoLoss());
    }

    /** The pairs of {@code cfg}, with the reference log-probabilities attached (cached in the run folder) unless reference-free. */
    private static Data prepare(TrainConfig cfg, Backend be, DecoderModel policy, Path modelDir) throws IOException {
        Data data = data(cfg, policy, modelDir);
        if (!cfg.referenceFree()) {
            Map<String, DpoDataset> sets = new LinkedHashMap<>();
            sets.put("train", data.train());
            if (data.eval() != null) sets.put("eval", data.eval());
            ReferenceLogProbs.Reference reference = cfg.lora() ? ReferenceLogProbs.Reference.adaptersOff(policy)
                    : ReferenceLogProbs.Reference.frozenCopy(be, modelDir);
            ReferenceLogProbs.attach(Path.of(cfg.out()), modelDir, sets, reference, cfg.microBatch(), System.out::println);
        }
        return data;
    }

    /** The pairs of {@code --data}, split by prompt with {@code --eval-fraction} and {@code --seed}, tokenised as sft does, cut to --max-len. */
    static Data data(TrainConfig cfg, DecoderModel policy, Path modelDir) throws IOException {
        PreferenceReader.Loaded loaded = PreferenceReader.read(cfg.data().stream().map(Path::of).toList(), true);
        System.out.println(RmCommand.report(loaded));
        if (loaded.groups().isEmpty()) throw new IllegalArgumentException("--data: no usable comparison in " + cfg.data());
        Split<ScoredGroup> split = Split.byFraction(loaded.groups(), cfg.evalFraction(), cfg.seed());
        try (HfTokenizer tok = Tokenizers.load(modelDir, policy.config().vocabSize())) {
            PreferencePairs train = PreferencePairs.of(split.train(), tok, RmCommand.template(cfg), cfg.maxLen());
            PreferencePairs eval = PreferencePairs.of(split.eval(), tok, RmCommand.template(cfg), cfg.maxLen());
            System.out.println("training: " + train.summary() + "; held out: " + eval.summary());
            if (train.pairs().isEmpty()) throw new IllegalArgumentException("--data: no preference pair to train on in " + cfg.data());
            return new Data(new DpoDataset(train.pairs(), tok.padId()),
                    eval.pairs().isEmpty() ? null : new DpoDataset(eval.pairs(), tok.padId()));
        }
    }

    private static String metric(Map<String, Double> m) {
        Double v = m.get("eval_rewards/accuracies");
        return v == null ? "n/a" : String.format(Locale.ROOT, "%.4f", v);
    }
}
