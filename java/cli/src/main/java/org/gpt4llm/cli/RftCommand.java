package org.gpt4llm.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.gpt4llm.generate.KeptAnswers;
import org.gpt4llm.generate.Questions;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.train.TrainConfig;
import org.gpt4llm.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code gpt4llm rft}: one round of rejection-sampling fine-tuning. The policy ({@code --model}) samples
 * {@code --n} answers to every instruction of {@code --prompts} and the reward model ranks them, as
 * {@code generate --n K --rerank RM} does, into {@code OUT/rft/samples.jsonl} (the best of each) and
 * {@code samples-topK.jsonl}; the best answer of every instruction whose reward reaches {@code --min-score}
 * is written as Alpaca JSON to {@code OUT/rft/kept.json}; then the policy is fine-tuned on that file
 * exactly as {@code sft --data OUT/rft/kept.json} would (the same flags, full or LoRA, into the same run
 * folder). Sampling is appended batch by batch, so a killed run samples only what it had not; a
 * fine-tune that had started continues with {@code --resume}.
 */
@Command(name = "rft", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Rejection-sampling fine-tuning: sample n answers per instruction, keep the reward model's best"
                + " (at least --min-score), fine-tune on them as sft does; one round, resumable.")
public final class RftCommand implements Callable<Integer> {
    /** Where in the run folder the samples and the kept data go. */
    static final String SAMPLES = "rft/samples.jsonl", KEPT = "rft/kept.json";

    @Spec
    CommandSpec spec;

    @Option(names = "--prompts", required = true, description = "instructions to answer: Alpaca JSON/JSONL (outputs ignored),"
            + " Vicuna or user-oriented questions")
    Path prompts;

    @Option(names = "--reward-model", required = true, description = "reward model folder (gpt4llm rm; with --lora-rank, its adapter folder)")
    Path rewardModel;

    @Option(names = "--n", description = "answers sampled per instruction (default 4)")
    int n = 4;

    @Option(names = "--min-score", description = "keep an instruction's best answer only if its reward is at least this (default: keep every best)")
    Double minScore;

    @Option(names = "--temperature", description = "sampling temperature, above 0 when --n is above 1 (default 0.7)")
    float temperature = 0.7f;

    @Option(names = "--top-p", description = "nucleus sampling mass (default 1)")
    float topP = 1f;

    @Option(names = "--max-new-tokens", description = "tokens per sampled answer at most (default 512)")
    int maxNewTokens = 512;

    @Option(names = "--sample-batch", description = "sequences decoded together while sampling (default 8)")
    int sampleBatch = 8;

    @Option(names = "--limit", description = "sample only the first N instructions of --prompts")
    Integer limit;

    @Option(names = "--rm-template", description = "how the reward model saw prompts in training: alpaca, plain or chat (default alpaca)")
    String rmTemplate = "alpaca";

    @Option(names = "--rm-max-len", description = "tokens per row the reward model reads, cut as in training (default 512)")
    int rmMaxLen = 512;

    @Mixin
    TrainingFlags common = new TrainingFlags();

    @Mixin
    SftFlags sftFlags = new SftFlags();

    @Override
    public Integer call() throws IOException {
        TrainConfig cfg = resolve();
        if (common.parallel.layout(System.getenv()).parallel()) {
            throw new IllegalArgumentException("rft samples on one device: start it without a parallel launch");
        }
        // checked here so that a bad folder is named by this command's flag, before anything is written
        TrainingFlags.modelFolder(cfg);
        ModelFlag.requireRewardModelFolder("--reward-model", rewardModel);
        Path run = Path.of(cfg.out());
        Files.createDirectories(run.resolve("rft"));
        sample(cfg, run.resolve(SAMPLES));
        KeptAnswers.Result kept = KeptAnswers.select(Questions.read(prompts), run.resolve(SAMPLES),
                minScore == null ? Double.NEGATIVE_INFINITY : minScore);
        if (kept.kept() == 0) {
            throw new IllegalArgumentException("--min-score " + minScore + " keeps none of the " + kept.answered()
                    + " best answers in " + run.resolve(SAMPLES) + ": nothing to fine-tune on");
        }
        keep(cfg, run, kept);
        System.out.printf(Locale.ROOT, "kept %d of %d instructions (%d below --min-score), mean reward %.4f: %s%n", kept.kept(),
                kept.answered(), kept.below(), kept.meanReward(), run.resolve(KEPT));
        SftCommand sft = new SftCommand();
        sft.spec = spec;
        sft.common = common;
        sft.sftFlags = sftFlags;
        return sft.train(cfg);
    }

    /**
     * Writes the kept answers to {@code OUT/rft/kept.json}; once training has started on that file it
     * stays what the run trained on unless the kept answers are the same, or {@code --resume
     * --accept-changed-data} asks to continue on them as they are now.
     */
    private void keep(TrainConfig cfg, Path run, KeptAnswers.Result kept) throws IOException {
        Path file = run.resolve(KEPT);
        byte[] now = KeptAnswers.bytes(kept);
        boolean trained = Files.exists(run.resolve(Trainer.METRICS)) || Files.exists(run.resolve(Trainer.CONFIG));
        if (trained && Files.isRegularFile(file) && !Arrays.equals(Files.readAllBytes(file), now)
                && !(cfg.resume() && cfg.acceptChangedData())) {
            throw new IllegalArgumentException("--out " + run + " trained on " + file + ", and the answers kept now differ from it"
                    + " (another --min-score, --prompts or samples); pass --resume --accept-changed-data to continue training on them"
                    + " as they are now, or choose another --out");
        }
        AtomicFiles.write(file, now);
    }

    /** Defaults, then --config, then the flags given here, with --data the kept answers in the run folder; validated. */
    TrainConfig resolve() throws IOException {
        if (common.data != null) {
            throw new IllegalArgumentException("--data: rft trains on the answers it keeps (" + KEPT + " in --out);"
                    + " give the instructions to answer with --prompts");
        }
        if (n < 1) throw new IllegalArgumentException("--n must be positive, got " + n);
        if (minScore != null && !Double.isFinite(minScore)) throw new IllegalArgumentException("--min-score must be a number, got " + minScore);
        Map<String, Object> f = common.flags();
        sftFlags.putInto(f);
        TrainConfig first = TrainConfig.resolve(common.config, f);
        if (first.out() == null || first.out().isBlank()) return first.validate(); // says --out is required
        f.put("data", List.of(Path.of(first.out()).resolve(KEPT).toString()));
        return TrainConfig.resolve(common.config, f).validate();
    }

    /** The policy's samples, ranked by the reward model: {@code generate}'s best-of-n, resumed where it stopped. */
    private void sample(TrainConfig cfg, Path samples) throws IOException {
        List<String> a = new ArrayList<>(List.of("--model", cfg.model(), "--questions", prompts.toString(), "--out", samples.toString(),
                "--model-id", "rft-policy", "--template", cfg.template() == null ? "alpaca" : cfg.template(),
                "--temperature", String.valueOf(temperature), "--top-p", String.valueOf(topP),
                "--max-new-tokens", String.valueOf(maxNewTokens), "--seed", String.valueOf(cfg.seed()),
                "--batch", String.valueOf(sampleBatch), "--n", String.valueOf(n), "--rerank", rewardModel.toString(),
                "--rm-template", rmTemplate, "--rm-max-len", String.valueOf(rmMaxLen), "--backend", cfg.backend()));
        if (limit != null) a.addAll(List.of("--limit", String.valueOf(limit)));
        Integer threads = common.backend.threads.given();
        if (threads != null) a.addAll(List.of("--threads", String.valueOf(threads)));
        GenerateCommand generate = new GenerateCommand();
        CommandLine cl = new CommandLine(generate);
        cl.setErr(spec.commandLine().getErr());
        try {
            cl.parseArgs(a.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        generate.call();
    }
}
