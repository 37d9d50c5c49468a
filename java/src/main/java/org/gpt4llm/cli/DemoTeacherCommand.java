package org.gpt4llm.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code gpt4llm demo teacher}: serves the rule-based demo teacher over the OpenAI chat API. */
@Command(name = "teacher", mixinStandardHelpOptions = true, description = "Serve the rule-based demo teacher (OpenAI-compatible).")
public final class DemoTeacherCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("gpt4llm demo teacher is not built yet");
    }
}
