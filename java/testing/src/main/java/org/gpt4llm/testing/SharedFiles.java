package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real models, tokenizers and data of the {@code shared} folder beside the checkout (never copied
 * into the project). The one place tests look for it; a test whose file is absent is skipped, saying so.
 */
public final class SharedFiles {
    private SharedFiles() {}

    /** The shared folder: {@code ../shared} from the checkout's root. */
    public static Path folder() {
        return ProjectFiles.root().resolveSibling("shared");
    }

    /** {@code shared/<relative>}; the calling test is skipped when it is absent. */
    public static Path get(String relative) {
        Path p = folder().resolve(relative);
        assumeTrue(Files.exists(p), "skipped: " + p + " is not present (the real models, tokenizers and data live in ../shared)");
        return p;
    }
}
