package org.gpt4llm.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.gpt4llm.testing.JsonChecks;

class AnswerFileTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode rec(Object id, String text) {
        ObjectNode n = JSON.createObjectNode();
        n.set("question_id", JSON.valueToTree(id));
        n.put("text", text);
        return n;
    }

    @Test
    void aKilledWriteIsDroppedAndAppendingGoesOn(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("sub/answers.jsonl");
        Set<String> done = new HashSet<>();
        try (AnswerFile a = AnswerFile.resume(f, done)) {
            a.write(List.of(rec(1, "one"), rec("u_2", "two \"quoted\"\nlines")));
        }
        assertEquals(Set.of(), done, "a new file holds nothing");
        Files.writeString(f, Files.readString(f) + "{\"question_id\": 3, \"te", java.nio.file.StandardOpenOption.TRUNCATE_EXISTING);
        try (AnswerFile a = AnswerFile.resume(f, done)) {
            assertEquals(Set.of("1", "u_2"), done);
            a.write(List.of(rec(3, "three")));
        }
        List<String> lines = Files.readAllLines(f);
        assertEquals(3, lines.size());
        assertEquals("two \"quoted\"\nlines", JsonChecks.text(JSON.readTree(lines.get(1)), "text"));
        assertEquals(3, JsonChecks.integer(JSON.readTree(lines.get(2)), "question_id"));

        // a group file cut back to the questions the main file finished, repeats dropped
        Path g = dir.resolve("g.jsonl");
        Files.writeString(g, "{\"question_id\": 1}\n{\"question_id\": 4}\n{\"question_id\": 1}\n\n{\"question_id\": 3}\n");
        assertEquals(Set.of("1", "3"), AnswerFile.repair(g, Set.of("1", "3")));
        assertEquals(List.of("{\"question_id\": 1}", "{\"question_id\": 3}"), Files.readAllLines(g));

        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"question_id\": 1}\nnot json\n{\"question_id\": 2}\n");
        IOException e = assertThrows(IOException.class, () -> AnswerFile.resume(bad, new HashSet<>()));
        assertEquals(bad + ":2 is not an answer record; fix or remove the line to resume", e.getMessage());
    }

    @Test
    void answerIdsAreShortUuidLike() {
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            String id = AnswerFile.answerId();
            assertTrue(id.matches("[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{22}"), id);
            ids.add(id);
        }
        assertEquals(1000, ids.size());
    }
}
