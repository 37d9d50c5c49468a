package org.gpt4llm.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code gpt4llm eval exact}: exact-match accuracy of predictions against references, per category. */
@Command(name = "exact", mixinStandardHelpOptions = true, description = "Exact-match accuracy per category.")
public final class EvalExactCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("gpt4llm eval exact is not built yet");
    }
}
