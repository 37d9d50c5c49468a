package org.gpt4llm.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** The project's checkout as tests see it, whichever module folder Maven runs them in. */
public final class ProjectFiles {
    private ProjectFiles() {}

    /** The checkout's root: the nearest folder at or above the working directory that holds CMakeLists.txt and kernels/. */
    public static Path root() {
        Path start = Path.of("").toAbsolutePath();
        for (Path p = start; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("CMakeLists.txt")) && Files.isDirectory(p.resolve("kernels"))) return p;
        }
        throw new IllegalStateException("no gpt4llm checkout (CMakeLists.txt beside kernels/) at or above " + start);
    }

    /** A file or folder of the checkout, e.g. {@code examples/fine-tune-and-generate}. */
    public static Path get(String relative) {
        return root().resolve(relative);
    }

    /** The Maven module the tests run in, relative to the root ({@code java/engine}), if it is not the root itself. */
    static Optional<String> moduleOfWorkingDirectory() {
        try {
            Path rel = root().relativize(Path.of("").toAbsolutePath());
            return rel.toString().isEmpty() ? Optional.empty() : Optional.of(rel.toString());
        } catch (IllegalStateException e) {
            return Optional.empty();
        }
    }
}
