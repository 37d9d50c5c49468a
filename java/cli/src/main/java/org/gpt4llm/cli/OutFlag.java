package org.gpt4llm.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --out}: where a command writes its result, a file or a folder. What it holds in each command
 * is said in {@code SharedFlags.properties} (key {@code <command path>.out}, e.g. {@code gpt4llm.eval.exact.out}).
 * The run folder of {@code sft} and {@code rm} is a key of their configuration ({@link TrainingFlags}).
 */
final class OutFlag {
    @Option(names = "--out", required = true, description = "where the output is written")
    Path out;

    /** --out as the file to write: refused in one sentence where it is a folder. */
    Path file() {
        if (Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is a folder; it names the file to write");
        return out;
    }

    /** --out as the folder to write into: refused in one sentence where it is a file. */
    Path folder() {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is a file, not a folder");
        return out;
    }
}
