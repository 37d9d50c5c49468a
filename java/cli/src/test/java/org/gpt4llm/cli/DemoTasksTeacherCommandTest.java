package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.gpt4llm.datagen.demo.DemoTasks;
import org.gpt4llm.datagen.demo.DemoTeacherServer;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm demo tasks} and {@code demo teacher}, and {@code datagen alpaca} and {@code compare} against the demo teacher. */
class DemoTasksTeacherCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void tasksFileHoldsTheGeneratedTasksAndExcludeKeepsAHeldOutSetApart() throws IOException {
        Path train = dir.resolve("train.json"), heldOut = dir.resolve("held_out.json");
        CliRun r = CliRun.of("demo", "tasks", "--n", "400", "--seed", "1", "--out", train.toString(), "--with-answers");
        assertEquals(0, r.code(), r.err());
        JsonNode records = JSON.readTree(train.toFile());
        assertEquals(400, records.size());
        Map<String, Integer> perCategory = new TreeMap<>();
        for (int i = 0; i < records.size(); i++) {
            JsonNode t = records.get(i);
            assertEquals(List.of("id", "category", "instruction", "input", "output"), fields(t));
            assertEquals("demo-1-" + i, t.get("id").asText());
            assertEquals(DemoTasks.solve(t.get("instruction").asText(), t.get("input").asText()).orElseThrow(), t.get("output").asText());
            perCategory.merge(t.get("category").asText(), 1, Integer::sum);
        }
        for (String c : DemoTasks.categories()) {
            assertEquals(400 / DemoTasks.categories().size(), perCategory.get(c), c);
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(c + " ") && l.contains(" 50 tasks")), r.out());
        }
        assertTrue(r.out().contains("wrote 400 demo tasks (seed 1, with answers) to " + train), r.out());

        // without answers, and the same seed as the training set: --exclude is what keeps them apart
        r = CliRun.of("demo", "tasks", "--n", "120", "--seed", "1", "--out", heldOut.toString(), "--exclude", train.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode held = JSON.readTree(heldOut.toFile());
        assertEquals(120, held.size());
        Set<String> trainKeys = keys(records);
        for (JsonNode t : held) {
            assertEquals(List.of("id", "category", "instruction", "input"), fields(t));
            assertFalse(trainKeys.contains(DemoTasks.key(t.get("instruction").asText(), t.get("input").asText())), t.toString());
        }
        Path same = dir.resolve("same.json");
        assertEquals(0, CliRun.of("demo", "tasks", "--n", "120", "--seed", "1", "--out", same.toString()).code());
        Set<String> overlap = keys(JSON.readTree(same.toFile()));
        overlap.retainAll(trainKeys);
        assertEquals(120, overlap.size(), "the same seed repeats the training set's first tasks when nothing is excluded");
    }

    @Test
    void badFlagsAreOneSentence() throws IOException {
        Path out = dir.resolve("t.json");
        CliRun r = CliRun.of("demo", "tasks", "--n", "0", "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm demo tasks: --n must be at least 1, got 0", r.err().strip());
        Path missing = dir.resolve("nope.json");
        r = CliRun.of("demo", "tasks", "--n", "5", "--out", out.toString(), "--exclude", missing.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm demo tasks: " + missing + " does not exist or is not a file", r.err().strip());
        assertFalse(Files.exists(out));

        r = CliRun.of("demo", "teacher", "--port", "70000");
        assertEquals(2, r.code());
        assertEquals("gpt4llm demo teacher: --port must be in 0..65535, got 70000", r.err().strip());
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            r = CliRun.of("demo", "teacher", "--port", String.valueOf(taken.getLocalPort()));
            assertEquals(2, r.code());
            assertEquals("gpt4llm demo teacher: --port " + taken.getLocalPort()
                    + " is already in use on 127.0.0.1; pick another or 0 for any free port", r.err().strip());
        }
    }

    /** The demo tasks answered by datagen alpaca, then a right and a wrong answer file rated by datagen compare. */
    @Test
    void datagenAlpacaAndCompareAgainstTheDemoTeacher() throws IOException {
        Path tasks = dir.resolve("tasks.json"), reference = dir.resolve("reference.json");
        assertEquals(0, CliRun.of("demo", "tasks", "--n", "24", "--seed", "3", "--out", tasks.toString()).code());
        assertEquals(0, CliRun.of("demo", "tasks", "--n", "24", "--seed", "3", "--out", reference.toString(), "--with-answers").code());
        JsonNode expected = JSON.readTree(reference.toFile());
        Path teacherAnswers = dir.resolve("teacher.json"), wrong = dir.resolve("guesser.json");
        // a wrong answer file: every answer with its last character dropped (or "?" for one-character answers)
        var wrongRecords = JSON.createArrayNode();
        for (JsonNode t : expected) {
            String a = t.get("output").asText();
            wrongRecords.addObject().put("instruction", t.get("instruction").asText()).put("input", t.get("input").asText())
                    .put("output", a.length() > 1 ? a.substring(0, a.length() - 1) : "?");
        }
        JSON.writeValue(wrong.toFile(), wrongRecords);

        try (DemoTeacherServer server = DemoTeacherServer.start(0)) {
            String[] api = {"--api-base", server.apiBase(), "--model", DemoTeacherServer.MODEL, "--api-key-env", "GPT4LLM_TEST_NO_KEY", "--quiet"};
            CliRun r = CliRun.of(concat(new String[] {"datagen", "alpaca", "--in", tasks.toString(), "--out", dir.resolve("answers.jsonl").toString(),
                    "--export", teacherAnswers.toString()}, api));
            assertEquals(0, r.code(), r.err() + r.out());
            JsonNode answered = JSON.readTree(teacherAnswers.toFile());
            assertEquals(24, answered.size());
            for (int i = 0; i < 24; i++) {
                assertEquals(expected.get(i).get("output").asText(), answered.get(i).get("output").asText(), answered.get(i).toString());
                assertEquals(expected.get(i).get("id").asText(), answered.get(i).get("id").asText(), "the task keeps its own id");
                assertEquals(expected.get(i).get("category").asText(), answered.get(i).get("category").asText());
            }

            Path rated = dir.resolve("rated.json");
            r = CliRun.of(concat(new String[] {"datagen", "compare", "--in", teacherAnswers.toString(), "--in", wrong.toString(),
                    "--out", dir.resolve("rated.jsonl").toString(), "--export", rated.toString()}, api));
            assertEquals(0, r.code(), r.err() + r.out());
            JsonNode records = JSON.readTree(rated.toFile());
            assertEquals(24, records.size());
            for (int i = 0; i < 24; i++) {
                JsonNode rs = records.get(i).get("responses_and_scores");
                assertEquals("teacher", rs.get(0).get("source").asText());
                assertEquals(10.0, rs.get(0).get("score").asDouble(), rs.toString());
                assertEquals("guesser", rs.get(1).get("source").asText());
                double wrongScore = rs.get(1).get("score").asDouble();
                assertEquals(DemoTeacherServer.score(expected.get(i).get("output").asText(), rs.get(1).get("response").asText()), wrongScore);
                assertTrue(wrongScore >= 1 && wrongScore <= 9, rs.toString());
            }
        }
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static Set<String> keys(JsonNode records) {
        Set<String> out = new HashSet<>();
        for (JsonNode t : records) out.add(DemoTasks.key(t.get("instruction").asText(), t.get("input").asText()));
        return out;
    }

    private static List<String> fields(JsonNode n) {
        List<String> out = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
