package org.gpt4llm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A write the file system refuses names the file asked for and the reason, and leaves no temp file behind. */
class AtomicFilesTest {
    @TempDir
    Path dir;

    private static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aRefusedWriteNamesTheTargetNotTheTempFile() throws IOException {
        byte[] json = "{}\n".getBytes(StandardCharsets.UTF_8);
        Path file = Files.writeString(dir.resolve("notes.txt"), "x");
        Path under = file.resolve("config.json");
        assertEquals("cannot write " + under + ": " + file + " is a file, not a folder",
                assertThrows(IOException.class, () -> AtomicFiles.write(under, json)).getMessage());

        // the temp file is written, then cannot be renamed over a folder
        Path folder = Files.createDirectories(dir.resolve("config.json"));
        assertEquals("cannot write " + folder + ": it is a folder",
                assertThrows(IOException.class, () -> AtomicFiles.write(folder, json)).getMessage());
        assertEquals(List.of("config.json", "notes.txt"), names(dir), "no temp file is left");
    }
}
