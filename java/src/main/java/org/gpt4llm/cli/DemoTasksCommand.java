package org.gpt4llm.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code gpt4llm demo tasks}: writes instructions of the demo's rule-based task family. */
@Command(name = "tasks", mixinStandardHelpOptions = true, description = "Write demo task instructions (Alpaca JSON).")
public final class DemoTasksCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("gpt4llm demo tasks is not built yet");
    }
}
