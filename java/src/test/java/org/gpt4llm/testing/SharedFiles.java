package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The real tokenizers and data in the shared folder next to the project (tests skip when it is absent). */
public final class SharedFiles {
    private SharedFiles() {
    }

    /** {@code shared/<relative>}: next to the project root, or next to its parent when the checkout is one level deeper. */
    public static Path get(String relative) {
        for (String base : new String[] {"../shared", "../../shared"}) {
            Path p = Path.of(base).resolve(relative);
            if (Files.exists(p)) return p;
        }
        assumeTrue(false, "skipped: ../shared/" + relative + " is not present (the real tokenizers and data live there)");
        return null;
    }
}
