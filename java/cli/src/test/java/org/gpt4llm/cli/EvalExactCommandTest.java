package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm eval exact}: two models against demo references, numbers counted by hand, and bad files as one sentence. */
class EvalExactCommandTest {
    @TempDir
    Path dir;

    @Test
    void twoModelsPerCategoryWithAMissingPrediction() throws IOException {
        Path refs = dir.resolve("held_out.json");
        assertEquals(0, CliRun.of("demo", "tasks", "--n", "8", "--seed", "5", "--out", refs.toString(), "--with-answers").code());
        JsonNode tasks = ReportFiles.JSON.readTree(refs.toFile());
        // the teacher's answers, every one right, as Alpaca records (matched by position)
        var right = ReportFiles.JSON.createArrayNode();
        for (JsonNode t : tasks) right.addObject().put("instruction", t.get("instruction").asText()).put("input", t.get("input").asText())
                .put("output", "  " + t.get("output").asText() + "\n");
        Path teacher = dir.resolve("teacher.json");
        ReportFiles.JSON.writeValue(teacher.toFile(), right);
        // a model's FastChat answers as gpt4llm generate writes them (question_id = index): 0-2 right, 3-6 wrong, 7 missing
        StringBuilder model = new StringBuilder();
        for (int i = 0; i < 7; i++) {
            String answer = tasks.get(i).get("output").asText() + (i < 3 ? "" : "!");
            model.append(ReportFiles.JSON.createObjectNode().put("question_id", String.valueOf(i)).put("model_id", "tiny").put("text", answer)).append('\n');
        }
        Path tiny = Files.writeString(dir.resolve("tiny.jsonl"), model);
        Path out = dir.resolve("report");
        CliRun r = CliRun.of("eval", "exact", "--predictions", teacher.toString(), "--predictions", tiny.toString(),
                "--model", "teacher", "--model", "tiny-sft", "--references", refs.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode json = ReportFiles.JSON.readTree(out.resolve("exact.json").toFile());
        JsonNode t = json.get("models").get(0), m = json.get("models").get(1);
        assertEquals("teacher", t.get("model").asText());
        assertEquals("position", t.get("matched_by").asText());
        assertEquals(8, t.get("correct").asInt());
        assertEquals(1.0, t.get("accuracy").asDouble());
        assertEquals("tiny-sft", m.get("model").asText());
        assertEquals("index", m.get("matched_by").asText());
        assertEquals(3, m.get("correct").asInt());
        assertEquals(8, m.get("total").asInt());
        assertEquals(1, m.get("missing").asInt());
        assertEquals(3.0 / 8, m.get("accuracy").asDouble(), 1e-12);
        assertEquals("7", m.get("missing_ids").get(0).asText());
        // 8 tasks of 8 categories: one each; the first three right
        for (int i = 0; i < 8; i++) {
            JsonNode c = m.get("categories").get(tasks.get(i).get("category").asText());
            assertEquals(i < 3 ? 1 : 0, c.get("correct").asInt(), c.toString());
            assertEquals(1, c.get("total").asInt());
            assertEquals(i == 7 ? 1 : 0, c.get("missing").asInt());
        }
        assertTrue(Files.size(out.resolve("exact.png")) > 1000);
        String md = Files.readString(out.resolve("exact.md"));
        assertTrue(md.contains("| ALL | tiny-sft | 3 | 8 | 1 | 0.3750 |"), md);
        assertTrue(md.contains("| ALL | teacher | 8 | 8 | 0 | 1.0000 |"), md);
        assertTrue(md.contains("tiny-sft has no prediction for 1 reference (ids 7)."), md);
        assertTrue(r.out().contains("| ALL | tiny-sft | 3 | 8 | 1 | 0.3750 |"), r.out());
    }

    @Test
    void badFilesAndFlagsAreOneSentence() throws IOException {
        Path refs = Files.writeString(dir.resolve("refs.json"), "[{\"category\": \"add\", \"instruction\": \"Add the two numbers.\", \"input\": \"1, 2\", \"output\": \"3\"}]");
        Path broken = Files.writeString(dir.resolve("broken.jsonl"), "{\"question_id\": 0, \"text\": \"3\"}\n{\"question_id\": 1,\n");
        Path out = dir.resolve("out");
        CliRun r = CliRun.of("eval", "exact", "--predictions", broken.toString(), "--references", refs.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().strip().startsWith("gpt4llm eval exact: " + broken + ":2 is not valid JSON"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        Path two = Files.writeString(dir.resolve("two.json"), "[{\"output\": \"3\"}, {\"output\": \"4\"}]");
        r = CliRun.of("eval", "exact", "--predictions", two.toString(), "--references", refs.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm eval exact: " + two + " has 2 records but " + refs
                + " has 1 (without question_id on every prediction they are matched by position)", r.err().strip());
        r = CliRun.of("eval", "exact", "--predictions", two.toString(), "--model", "a", "--model", "b", "--references", refs.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm eval exact: --model given 2 times for 1 --predictions files", r.err().strip());
        Path missing = dir.resolve("missing.json");
        r = CliRun.of("eval", "exact", "--predictions", two.toString(), "--references", missing.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm eval exact: " + missing + " does not exist or is not a file", r.err().strip());
        assertFalse(Files.exists(out));
    }
}
