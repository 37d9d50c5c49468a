package org.gpt4llm.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code --out} and {@code --force} of the commands that write a model or tokenizer folder: what a
 * folder already holds is overwritten only with {@code --force}.
 */
final class ModelOutFlags {
    @Mixin
    OutFlag out = new OutFlag();

    @Option(names = "--force", description = "overwrite a folder that already holds a model")
    boolean force;

    /** --out, refused in one sentence where it is a file or, without --force, already holds a model. */
    Path modelFolder() {
        return folder("a model", "config.json");
    }

    /** --out, refused in one sentence where it is a file or, without --force, already holds a tokenizer. */
    Path tokenizerFolder() {
        return folder("a tokenizer", "tokenizer.json");
    }

    /** --out, a folder (or nothing yet) without {@code marker}, the file that makes it {@code what}, unless --force. */
    private Path folder(String what, String marker) {
        Path dir = out.folder();
        if (!force && Files.exists(dir.resolve(marker))) {
            throw new IllegalArgumentException("--out " + dir + " already holds " + what + " (" + marker
                    + "); pass --force to overwrite it");
        }
        return dir;
    }
}
