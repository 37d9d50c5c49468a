package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/** Files a user can read: what the project writes has the permissions any new file gets under the user's umask. */
public final class FilePermissions {
    private FilePermissions() {}

    /** Asserts {@code file} has the permissions of a file (or folder) newly created beside it. */
    public static void assertUmaskDefault(Path file) throws IOException {
        boolean dir = Files.isDirectory(file);
        Path probe = file.resolveSibling(".permission-probe-" + System.nanoTime());
        Set<PosixFilePermission> expected;
        try {
            if (dir) Files.createDirectory(probe); else Files.createFile(probe);
            expected = Files.getPosixFilePermissions(probe);
        } finally {
            Files.deleteIfExists(probe);
        }
        assertEquals(PosixFilePermissions.toString(expected), PosixFilePermissions.toString(Files.getPosixFilePermissions(file)),
                file + " has other permissions than a new " + (dir ? "folder" : "file") + " beside it");
    }
}
