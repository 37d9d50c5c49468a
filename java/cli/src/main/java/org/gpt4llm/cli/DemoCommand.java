package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.gpt4llm.demo.DemoPipeline;
import org.gpt4llm.demo.DemoSize;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code gpt4llm demo}: the paper's pipeline end to end, offline, against the built-in demo teacher. */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "The whole pipeline offline: demo teacher, datagen, tokenizer and model from scratch, "
                + "full and LoRA SFT, a weaker teacher's student, reward model, best-of-n, rejection sampling, evaluation and one HTML report.",
        subcommands = {DemoTasksCommand.class, DemoTeacherCommand.class})
public final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", defaultValue = "runs/demo", description = "folder for everything the demo writes (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--fresh", description = "start over: remove what an earlier run left in --out (otherwise finished stages are skipped)")
    boolean fresh;

    @Option(names = "--teacher", description = "an OpenAI-compatible API base (e.g. https://api.openai.com/v1) instead of the built-in demo teacher")
    String teacher;

    @Option(names = "--model", description = "the teacher's model name (default: the demo teacher's)")
    String model;

    @Option(names = "--api-key-env", description = "environment variable holding the teacher's API key (default: datagen's, OPENAI_API_KEY)")
    String apiKeyEnv;

    @Option(names = "--base", description = "an HF base model folder with its tokenizer: replaces the tokenizer, the model from scratch and its pretraining")
    Path base;

    @Option(names = "--template", description = "prompt template of training, generation and the reward model (default: plain from scratch, alpaca with --base)")
    String template;

    @Mixin
    BackendFlags backend = new BackendFlags();

    @Option(names = "--quick", description = "every stage at toy sizes in under a minute (the plumbing, not a good model)")
    boolean quick;

    @Option(names = "--train", description = "training tasks (default 6000; quick 300)")
    Integer train;

    @Option(names = "--heldout", description = "held-out tasks (default 200; quick 40)")
    Integer heldout;

    @Option(names = "--compare", description = "training instructions whose answers the teacher rates (default 300; quick 40)")
    Integer compare;

    @Option(names = "--preset", description = "init-model --preset (default demo; quick tiny)")
    String preset;

    @Option(names = "--pretrain-steps", description = "steps pretraining the base on the data's texts (default 400)")
    Integer pretrainSteps;

    @Option(names = "--full-steps", description = "steps of full SFT (default 1200)")
    Integer fullSteps;

    @Option(names = "--lora-steps", description = "steps of LoRA SFT (default 1200)")
    Integer loraSteps;

    @Option(names = "--rm-steps", description = "steps of reward-model training (default 100)")
    Integer rmSteps;

    @Option(names = "--max-len", description = "tokens per training row (default 64; 256 with --base, whose template is longer)")
    Integer maxLen;

    @Option(names = "--best-of", description = "samples ranked per held-out task, and per instruction in rejection sampling (default 4)")
    Integer bestOf;

    @Option(names = "--weak-share", description = "share of the tasks the weaker teacher answers sloppily (default 0.3)")
    Double weakShare;

    @Option(names = "--rft-steps", description = "steps of the rejection-sampling fine-tune (default 100; quick 5)")
    Integer rftSteps;

    @Override
    public Integer call() throws Exception {
        if (template != null) org.gpt4llm.data.Template.parse(template);
        if (base != null) ModelFlag.requireModelFolder("--base", base);
        if (base != null && !java.nio.file.Files.isRegularFile(base.resolve("tokenizer.json"))) {
            throw new IllegalArgumentException("--base " + base + " has no tokenizer.json; the demo tunes a base model together with its tokenizer");
        }
        if (model != null && teacher == null) throw new IllegalArgumentException("--model names the teacher's model; it needs --teacher URL");
        DemoSize d = quick ? DemoSize.QUICK : DemoSize.DEFAULT;
        DemoSize size = new DemoSize(or(train, d.train()), or(heldout, d.heldout()), or(compare, d.compare()), d.vocab(),
                preset != null ? preset : d.preset(), or(maxLen, base != null ? 256 : d.maxLen()), d.batch(), or(pretrainSteps, d.pretrainSteps()),
                or(fullSteps, d.fullSteps()), or(loraSteps, d.loraSteps()), or(rmSteps, d.rmSteps()), d.lr(), d.loraLr(),
                d.loraRank(), d.rmLr(), or(bestOf, d.bestOf()), d.maxNewTokens(),
                weakShare != null ? weakShare : d.weakShare(), or(rftSteps, d.rftSteps()));
        DemoPipeline.Options o = new DemoPipeline.Options(out, fresh, teacher, model, apiKeyEnv, base, backend.threads.given(),
                template, backend.given(), size);
        try {
            DemoPipeline.Commands commands = (args, err) -> {
                var cl = Main.commandLine();
                cl.setErr(err);
                return cl.execute(args);
            };
            new DemoPipeline(o, commands, System.out, spec.commandLine().getErr()).run();
            return 0;
        } catch (DemoPipeline.StageFailedException e) {
            spec.commandLine().getErr().println(spec.qualifiedName() + ": " + e.getMessage());
            return 1;
        }
    }

    private static int or(Integer v, int d) {
        return v != null ? v : d;
    }
}
