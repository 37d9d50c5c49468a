package org.gpt4llm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code gpt4llm eval}: the paper's numbers and figures from answer files (generation happens
 * elsewhere). Each evaluation is its own subcommand class, listed here.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate as the paper does: ROUGE by length bucket, GPT-4 as judge, best-of-n groups, data statistics, human HHH.",
        subcommands = {EvalRougeCommand.class, EvalJudgeCommand.class, EvalBestofnCommand.class, EvalStatsCommand.class,
                EvalHhhCommand.class, EvalExactCommand.class})
public final class EvalCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
