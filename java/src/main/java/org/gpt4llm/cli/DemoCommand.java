package org.gpt4llm.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code gpt4llm demo}: the paper's pipeline end to end, offline, against the built-in demo teacher. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "The whole pipeline offline: demo teacher, datagen, tokenizer and model from scratch, "
                + "full and LoRA SFT, reward model, best-of-n, evaluation and one HTML report.",
        subcommands = {DemoTasksCommand.class, DemoTeacherCommand.class})
public final class DemoCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("gpt4llm demo is not built yet");
    }
}
