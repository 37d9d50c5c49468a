package org.gpt4llm.datagen.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.datagen.job.JsonRecords.Located;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonRecordsTest {
    @TempDir
    Path dir;

    @Test
    void readsArraysAndLinesWithTheirPlace() throws IOException {
        Path array = Files.writeString(dir.resolve("a.json"), "  [{\"instruction\": \"x\"}, {\"instruction\": \"y\", \"input\": \"z\"}]");
        List<Located> a = JsonRecords.read(array);
        assertEquals(List.of(array + ": record 0", array + ": record 1"), a.stream().map(Located::where).toList());
        assertEquals("z", JsonRecords.text(a.get(1), "input"));
        assertEquals("", JsonRecords.text(a.get(0), "input"));
        Path lines = Files.writeString(dir.resolve("l.jsonl"), "{\"instruction\": \"x\"}\n\n{\"instruction\": \"y\"}\n");
        assertEquals(List.of(lines + ":1", lines + ":3"), JsonRecords.read(lines).stream().map(Located::where).toList());
    }

    @Test
    void namesWhatIsWrong() throws IOException {
        Path numbers = Files.writeString(dir.resolve("n.json"), "[{\"instruction\": \"x\"}, 2]");
        assertEquals(numbers + ": record 1 is not a JSON object",
                assertThrows(IllegalArgumentException.class, () -> JsonRecords.read(numbers)).getMessage());
        Path typed = Files.writeString(dir.resolve("t.jsonl"), "{\"instruction\": \"x\", \"input\": 3}\n");
        assertEquals(typed + ":1: \"input\" is not a string",
                assertThrows(IllegalArgumentException.class, () -> JsonRecords.text(JsonRecords.read(typed).getFirst(), "input")).getMessage());
        Path missing = dir.resolve("missing.json");
        assertEquals(missing + " does not exist or is not a file",
                assertThrows(NoSuchFileException.class, () -> JsonRecords.read(missing)).getMessage());
    }
}
