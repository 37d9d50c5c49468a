package org.gpt4llm.eval.rouge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.eval.rouge.RougeEval.Instance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RougeInputsTest {
    @TempDir
    Path dir;

    @Test
    void pairsWithOneOrSeveralReferences() throws IOException {
        Path f = write("pairs.jsonl", """
                {"prediction": "p0", "reference": "r0"}
                {"question_id": 7, "prediction": "p1", "references": ["r1", "r2"]}
                """);
        assertEquals(List.of(new Instance("0", "p0", List.of("r0")), new Instance("7", "p1", List.of("r1", "r2"))), RougeInputs.pairs(f));
    }

    @Test
    void fastChatAnswersMatchedByQuestionId() throws IOException {
        Path answers = write("answers.jsonl", """
                {"question_id": 2, "text": "second", "model_id": "m"}
                {"question_id": 1, "choices": [{"index": 0, "turns": ["first", "later turn"]}]}
                """);
        Path refs = write("refs.jsonl", """
                {"question_id": 1, "text": "ref one"}
                {"question_id": 2, "references": ["ref two", "ref two b"]}
                {"question_id": 3, "text": "unused"}
                """);
        assertEquals(List.of(new Instance("2", "second", List.of("ref two", "ref two b")), new Instance("1", "first", List.of("ref one"))),
                RougeInputs.aligned(answers, refs));
    }

    @Test
    void alpacaOutputsMatchedByPosition() throws IOException {
        Path outputs = write("outputs.json", """
                [{"instruction": "i0", "input": "", "output": "o0"}, {"instruction": "i1", "input": "", "output": "o1"}]
                """);
        Path refs = write("refs.json", """
                [{"instruction": "i0", "output": "g0"}, {"instruction": "i1", "output": "g1"}]
                """);
        assertEquals(List.of(new Instance("0", "o0", List.of("g0")), new Instance("1", "o1", List.of("g1"))), RougeInputs.aligned(outputs, refs));
    }

    @Test
    void badInputIsOneSentenceNamingTheRecord() throws IOException {
        Path outputs = write("o.json", "[{\"output\": \"a\"}, {\"output\": \"b\"}]");
        Path refs = write("r.json", "[{\"output\": \"a\"}]");
        assertEquals(outputs + " has 2 records but " + refs + " has 1 (without question_id on every record they are matched by position)",
                assertThrows(IllegalArgumentException.class, () -> RougeInputs.aligned(outputs, refs)).getMessage());
        Path noPrediction = write("p.jsonl", "{\"reference\": \"r\"}\n");
        assertEquals(noPrediction + ":1 has no \"prediction\"",
                assertThrows(IllegalArgumentException.class, () -> RougeInputs.pairs(noPrediction)).getMessage());
        Path emptyRefs = write("e.jsonl", "{\"prediction\": \"p\", \"references\": []}\n");
        assertEquals(emptyRefs + ":1: \"references\" is not a non-empty list",
                assertThrows(IllegalArgumentException.class, () -> RougeInputs.pairs(emptyRefs)).getMessage());
        Path answers = write("a.jsonl", "{\"question_id\": 9, \"text\": \"x\"}\n");
        Path idRefs = write("ir.jsonl", "{\"question_id\": 1, \"text\": \"y\"}\n");
        assertEquals(answers + ":1: no reference in " + idRefs + " has id 9",
                assertThrows(IllegalArgumentException.class, () -> RougeInputs.aligned(answers, idRefs)).getMessage());
    }

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }
}
