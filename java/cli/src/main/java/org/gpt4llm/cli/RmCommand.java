package org.gpt4llm.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.data.EncodedGroup;
import org.gpt4llm.data.PreferenceReader;
import org.gpt4llm.data.RewardBatch;
import org.gpt4llm.data.RewardDataset;
import org.gpt4llm.data.RewardEncoder;
import org.gpt4llm.data.ScoredGroup;
import org.gpt4llm.data.Split;
import org.gpt4llm.data.Template;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.train.RewardTraining;
import org.gpt4llm.train.RunStart;
import org.gpt4llm.train.TrainConfig;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.TrainingDivergedException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import org.gpt4llm.train.parallel.DataParallel;

/**
 * {@code gpt4llm rm}: trains a reward model (a backbone from {@code --model}, LLaMA or OPT, plus a
 * scalar value head) on scored responses with the pairwise loss over all C(K,2) score-ordered pairs of
 * each prompt, into a run folder, with the {@link TrainingFlags} every training command has. A
 * batch is {@code --batch} prompts with all their responses. With {@code --lora-rank} the backbone
 * stays frozen and LoRA adapters train with the head; checkpoints and {@code final/} are then adapter
 * folders that {@code rm score} and {@code generate --rerank} load on the base model.
 */
@Command(name = "rm", mixinStandardHelpOptions = true, subcommands = RmScoreCommand.class,
        description = "Train a reward model on scored responses (the paper's comparison data, chosen/rejected"
                + " pairs) with the pairwise loss over all C(K,2) pairs, resumable.")
public final class RmCommand implements Callable<Integer> {
    /** Skipped records listed on the console; the count is always printed. */
    private static final int LISTED = 20;

    @Spec
    CommandSpec spec;

    @Mixin
    TrainingFlags common = new TrainingFlags();

    @Option(names = "--margin", description = "m in -log σ(r_chosen - r_rejected - m) (default 0)")
    Double margin;

    @Option(names = "--center-rewards-coefficient",
            description = "weight of the reward-centring term mean((r_chosen + r_rejected)²) (default 0)")
    Double centerRewardsCoefficient;

    @Override
    public Integer call() throws IOException {
        Map<String, Object> flags = common.flags();
        TrainingFlags.putIfGiven(flags, "margin", margin);
        TrainingFlags.putIfGiven(flags, "center_rewards_coefficient", centerRewardsCoefficient);
        TrainConfig cfg = TrainConfig.resolve(TrainConfig.rewardModelDefaults(), common.config, flags).validate();
        if (cfg.data().isEmpty()) throw new IllegalArgumentException("--data is required: the comparison files to train on");
        PrintWriter err = spec.commandLine().getErr();
        Path modelDir = TrainingFlags.modelFolder(cfg);
        RunStart start = RunStart.check(cfg); // before anything is loaded: a refusal or a finished run costs nothing
        if (start.finished()) {
            System.out.println(start.finishedMessage());
            return 0;
        }
        ModelConfig modelCfg = ModelConfig.read(modelDir.resolve("config.json"));
        PreferenceReader.Loaded loaded = PreferenceReader.read(cfg.data().stream().map(Path::of).toList(), true);
        System.out.println(report(loaded));
        if (loaded.groups().isEmpty()) throw new IllegalArgumentException("--data: no usable comparison in " + cfg.data());
        Split<ScoredGroup> split = Split.byFraction(loaded.groups(), cfg.evalFraction(), cfg.seed());
        ParallelFlags.Layout layout = common.parallel.layout(System.getenv());
        if (layout.parallel()) return callParallel(cfg, start, layout, modelDir, modelCfg, split, err);
        try (HfTokenizer tok = Tokenizers.load(modelDir, modelCfg.vocabSize());
             Backend be = common.backend.open(cfg.backend());
             RewardModel rm = RewardModel.load(be, modelDir, cfg.seed(), tok.padId())) {
            RewardTraining task = task(cfg, rm, modelDir);
            RewardEncoder enc = new RewardEncoder(tok, template(cfg), cfg.maxLen());
            RewardDataset train = new RewardDataset(encode(enc, split.train()), tok.padId());
            RewardDataset eval = split.eval().isEmpty() ? null : new RewardDataset(encode(enc, split.eval()), tok.padId());
            System.out.printf(Locale.ROOT, "%d prompts to train on, %d held out; %d responses cut to --max-len %d%n",
                    train.size(), eval == null ? 0 : eval.size(), enc.truncatedRows(), cfg.maxLen());
            Trainer.Result r = new Trainer<>("rm", cfg, task, train, eval, common.quiet, System.out).run(start);
            if (!common.quiet) {
                System.out.printf(Locale.ROOT, "%d steps, final loss %.4f, held-out accuracy %s -> %s; %s%n", r.steps(),
                        r.loss(), metric(r.firstEval(), "eval_accuracy"), metric(r.lastEval(), "eval_accuracy"),
                        r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /** What the trainer updates: the reward model (with --lora-rank, adapters on its backbone), with --recompute. */
    static RewardTraining task(TrainConfig cfg, RewardModel rm, Path modelDir) {
        if (cfg.lora()) rm.enableLora(SftCommand.loraConfig(cfg), cfg.seed());
        rm.backbone().setRecompute(cfg.recompute());
        return new RewardTraining(rm, modelDir, (float) cfg.margin(), (float) cfg.centerRewardsCoefficient());
    }

    /** {@link #call} on several devices: a replica per device, node 0 alone writing the run. */
    private int callParallel(TrainConfig cfg, RunStart start, ParallelFlags.Layout layout, Path modelDir, ModelConfig modelCfg,
                             Split<ScoredGroup> split, PrintWriter err) throws IOException {
        TrainConfig nodeCfg = ParallelTraining.forThisNode(cfg, layout);
        boolean quiet = common.quiet || layout.nodeRank() > 0;
        try (HfTokenizer tok = Tokenizers.load(modelDir, modelCfg.vocabSize());
             ParallelTraining<RewardModel> devices = ParallelTraining.open(layout, cfg, common.backend.threads(),
                     be -> RewardModel.load(be, modelDir, cfg.seed(), tok.padId()))) {
            RewardEncoder enc = new RewardEncoder(tok, template(cfg), cfg.maxLen());
            RewardDataset train = new RewardDataset(encode(enc, split.train()), tok.padId());
            RewardDataset eval = split.eval().isEmpty() ? null : new RewardDataset(encode(enc, split.eval()), tok.padId());
            List<RewardTraining> replicas = new java.util.ArrayList<>();
            for (RewardModel m : devices.models) {
                replicas.add(task(cfg, m, modelDir));
            }
            DataParallel<RewardBatch> engine = devices.engine(replicas, cfg, System.out);
            Trainer.Result r = new Trainer<>("rm", nodeCfg, replicas.get(0), train, eval, quiet, System.out)
                    .withSteps(engine).run(devices.startOnThisNode(cfg, nodeCfg, start));
            if (!quiet) {
                System.out.printf(Locale.ROOT, "%d steps on %d devices (ZeRO %d), final loss %.4f, held-out accuracy %s -> %s;"
                        + " %s%n", r.steps(), layout.world(), layout.zero(), r.loss(), metric(r.firstEval(), "eval_accuracy"),
                        metric(r.lastEval(), "eval_accuracy"), r.finalDir());
            }
            return 0;
        } catch (TrainingDivergedException e) {
            err.println(spec.qualifiedName() + ": " + e.getMessage());
            return 3;
        }
    }

    /** The prompt template: --template, else Alpaca's (the paper's comparison prompts are Alpaca instructions). */
    static Template template(TrainConfig cfg) {
        return cfg.template() == null ? Template.ALPACA : Template.parse(cfg.template());
    }

    static List<EncodedGroup> encode(RewardEncoder enc, List<ScoredGroup> groups) {
        List<EncodedGroup> out = new ArrayList<>(groups.size());
        for (ScoredGroup g : groups) out.add(enc.encode(g));
        return out;
    }

    /** What was read: prompts, pairs, tied pairs, and every skipped record (the first {@link #LISTED} by name). */
    static String report(PreferenceReader.Loaded l) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%d prompts, %d pairs, %d tied pairs skipped, %d records skipped",
                l.groups().size(), l.pairs(), l.tiedPairs(), l.skipped().size()));
        for (int i = 0; i < Math.min(LISTED, l.skipped().size()); i++) sb.append("\n  skipped ").append(l.skipped().get(i));
        if (l.skipped().size() > LISTED) sb.append("\n  ... and ").append(l.skipped().size() - LISTED).append(" more");
        return sb.toString();
    }

    private static String metric(Map<String, Double> m, String key) {
        Double v = m.get(key);
        return v == null ? "n/a" : String.format(Locale.ROOT, "%.4f", v);
    }
}
