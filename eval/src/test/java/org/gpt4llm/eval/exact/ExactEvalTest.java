package org.gpt4llm.eval.exact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.gpt4llm.eval.exact.ExactEval.Result;
import org.gpt4llm.eval.exact.ExactEval.Tally;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exact match on hand-counted files: trimming, case, per category, missing predictions, and the three ways of matching. */
class ExactEvalTest {
    @TempDir
    Path dir;

    private static final String REFERENCES = """
            [{"id": "demo-1-0", "category": "add", "instruction": "Add the two numbers.", "input": "2, 3", "output": "5"},
             {"id": "demo-1-1", "category": "add", "instruction": "Add the two numbers.", "input": "4, 4", "output": "8"},
             {"id": "demo-1-2", "category": "reverse", "instruction": "Spell the word backwards.", "input": "dog", "output": "god"},
             {"id": "demo-1-3", "category": "reverse", "instruction": "Spell the word backwards.", "input": "cat", "output": "tac"},
             {"id": "demo-1-4", "category": "date", "instruction": "Write this date as DD/MM/YYYY.", "input": "2023-07-14", "output": "14/07/2023"}]
            """;

    /** gpt4llm generate's answers to an Alpaca file: question_id is the record index; question 4 is unanswered. */
    @Test
    void fastChatAnswersByIndexWithAMissingOne() throws IOException {
        Path refs = write("refs.json", REFERENCES);
        Path preds = write("model.jsonl", """
                {"question_id": "0", "answer_id": "a", "model_id": "m", "text": " 5\\n"}
                {"question_id": "1", "answer_id": "b", "model_id": "m", "text": "9"}
                {"question_id": "3", "answer_id": "d", "model_id": "m", "choices": [{"index": 0, "turns": ["tac"]}]}
                {"question_id": "2", "answer_id": "c", "model_id": "m", "text": "God"}
                """);
        ExactInputs.Aligned aligned = ExactInputs.aligned(preds, refs);
        assertEquals("index", aligned.matchedBy());
        Result r = ExactEval.score("m", preds.toString(), aligned);
        // right: " 5\n" (trimmed) and "tac"; wrong: "9", "God" (case counts) and the missing date
        assertEquals(new Tally(2, 5, 1), r.overall());
        assertEquals(0.4, r.overall().accuracy(), 1e-12);
        assertEquals(Map.of("add", new Tally(1, 2, 0), "reverse", new Tally(1, 2, 0), "date", new Tally(0, 1, 1)), r.categories());
        assertEquals(List.of("add", "reverse", "date"), List.copyOf(r.categories().keySet()));
        assertEquals(List.of("4"), r.missingIds());

        JsonNode json = ExactEval.toJson(refs.toString(), List.of(r));
        JsonNode m = json.get("models").get(0);
        assertEquals(2, m.get("correct").asInt());
        assertEquals(5, m.get("total").asInt());
        assertEquals(1, m.get("missing").asInt());
        assertEquals(0.5, m.at("/categories/reverse/accuracy").asDouble());
        assertEquals("4", m.get("missing_ids").get(0).asText());
        String md = ExactEval.markdown(refs.toString(), List.of(r));
        assertTrue(md.contains("| date | m | 0 | 1 | 1 | 0.0000 |"), md);
        assertTrue(md.contains("| ALL | m | 2 | 5 | 1 | 0.4000 |"), md);
        assertTrue(md.contains("m has no prediction for 1 reference (ids 4)."), md);
    }

    @Test
    void alpacaOutputsByPositionAndAnswersById() throws IOException {
        Path refs = write("refs.json", REFERENCES);
        Path byPosition = write("alpaca.json", """
                [{"instruction": "Add the two numbers.", "input": "2, 3", "output": "5"},
                 {"instruction": "Add the two numbers.", "input": "4, 4", "output": "8 "},
                 {"instruction": "Spell the word backwards.", "input": "dog", "output": "go d"},
                 {"instruction": "Spell the word backwards.", "input": "cat", "output": "tac"},
                 {"instruction": "Write this date as DD/MM/YYYY.", "input": "2023-07-14", "output": "14/07/2023"}]
                """);
        ExactInputs.Aligned a = ExactInputs.aligned(byPosition, refs);
        assertEquals("position", a.matchedBy());
        assertEquals(new Tally(4, 5, 0), ExactEval.score("alpaca", "", a).overall());

        Path byId = write("ids.jsonl", """
                {"question_id": "demo-1-4", "text": "14/07/2023"}
                {"question_id": "demo-1-2", "text": "god"}
                """);
        ExactInputs.Aligned b = ExactInputs.aligned(byId, refs);
        assertEquals("id", b.matchedBy());
        Result r = ExactEval.score("ids", "", b);
        assertEquals(new Tally(2, 5, 3), r.overall());
        assertEquals(List.of("demo-1-0", "demo-1-1", "demo-1-3"), r.missingIds());
        assertEquals(new Tally(1, 2, 1), r.categories().get("reverse"));

        // references without a category are one "(none)" category; "references" lists several right answers
        Path loose = write("loose.json", "[{\"references\": [\"yes\", \"Yes.\"]}, {\"reference\": \"no\"}]");
        Path two = write("two.json", "[{\"prediction\": \"Yes.\"}, {\"prediction\": \"No\"}]");
        Result l = ExactEval.score("two", "", ExactInputs.aligned(two, loose));
        assertEquals(Map.of(ExactInputs.NO_CATEGORY, new Tally(1, 2, 0)), l.categories());
    }

    @Test
    void badFilesAreOneSentence() throws IOException {
        Path refs = write("refs.json", REFERENCES);
        Path unknown = write("unknown.jsonl", "{\"question_id\": \"demo-9-9\", \"text\": \"5\"}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ExactInputs.aligned(unknown, refs));
        assertEquals(unknown + ":1: no reference in " + refs + " has id demo-9-9 (nor is it an index below 5)", e.getMessage());
        Path twice = write("twice.jsonl", "{\"question_id\": 1, \"text\": \"5\"}\n{\"question_id\": 1, \"text\": \"6\"}\n");
        e = assertThrows(IllegalArgumentException.class, () -> ExactInputs.aligned(twice, refs));
        assertEquals(twice + ":2 answers id 1 again", e.getMessage());
        Path short_ = write("short.json", "[{\"output\": \"5\"}]");
        e = assertThrows(IllegalArgumentException.class, () -> ExactInputs.aligned(short_, refs));
        assertTrue(e.getMessage().startsWith(short_ + " has 1 records but " + refs + " has 5"), e.getMessage());
        Path broken = write("broken.jsonl", "{\"question_id\": 0, \"text\": \"5\"}\n{\"question_id\": 1,\n");
        IOException io = assertThrows(IOException.class, () -> ExactInputs.aligned(broken, refs));
        assertTrue(io.getMessage().startsWith(broken + ":2 is not valid JSON"), io.getMessage());
        Path noText = write("notext.jsonl", "{\"question_id\": 0, \"score\": 1}\n");
        e = assertThrows(IllegalArgumentException.class, () -> ExactInputs.aligned(noText, refs));
        assertTrue(e.getMessage().startsWith(noText + ":1 has none of"), e.getMessage());
    }

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }
}
