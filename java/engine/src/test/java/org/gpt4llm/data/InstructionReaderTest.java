package org.gpt4llm.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.data.SftRecord.DataFormat;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class InstructionReaderTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void alpacaArrayWithAndWithoutInput() throws IOException {
        Path f = write("a.json", """
                [{"instruction": "Add.", "input": "1 2", "output": "3"},
                 {"instruction": "Hi.", "output": "Hello"},
                 {"instruction": "Hi.", "input": null, "output": "Hello"}]""");
        InstructionReader.Loaded l = InstructionReader.read(List.of(f), true);
        assertEquals(3, l.records().size());
        assertEquals(new Turn("Add.", "1 2", "3"), l.records().get(0).turns().getFirst());
        assertEquals(new Turn("Hi.", "", "Hello"), l.records().get(1).turns().getFirst());
        assertEquals(new RecordRef(f, 2, 0), l.records().get(2).ref());
        assertEquals(DataFormat.ALPACA, l.records().get(0).format());
    }

    @Test
    void jsonlRecordsKeepTheirLine() throws IOException {
        Path f = write("a.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"c\", \"output\": \"d\"}\n");
        List<SftRecord> r = InstructionReader.read(List.of(f), true).records();
        assertEquals(new RecordRef(f, 1, 3), r.get(1).ref());
        assertEquals(f + " line 3", r.get(1).ref().where());
    }

    @Test
    void shareGptConversationsAndPreferencePairs() throws IOException {
        Path f = write("s.json", """
                [{"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "q1"},
                   {"from": "gpt", "value": "a1"}, {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]},
                 {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "good"},
                  "rejected": {"from": "gpt", "value": "bad"}}]""");
        List<SftRecord> r = InstructionReader.read(List.of(f), true).records();
        assertEquals("S", r.get(0).system());
        assertEquals(List.of(new Turn("q1", "", "a1"), new Turn("q2", "", "a2")), r.get(0).turns());
        assertEquals(List.of(new Turn("q", "", "good")), r.get(1).turns());
        assertEquals(DataFormat.SHAREGPT, r.get(1).format());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "not an object      | `[1]`                                           | the record is a number, not a JSON object",
        "no instruction     | `[{\"output\": \"x\"}]`                         | the record has no 'instruction' field",
        "no output          | `[{\"instruction\": \"x\"}]`                    | the record has no 'output' field",
        "number output      | `[{\"instruction\": \"x\", \"output\": 3}]`     | 'output' is a number, not a string",
        "array instruction  | `[{\"instruction\": [], \"output\": \"y\"}]`    | 'instruction' is an array, not a string",
        "object input       | `[{\"instruction\": \"x\", \"input\": {}, \"output\": \"y\"}]` | 'input' is an object, not a string",
        "empty conversation | `[{\"conversations\": []}]`                     | 'conversations' is empty",
        "gpt first          | `[{\"conversations\": [{\"from\": \"gpt\", \"value\": \"a\"}, {\"from\": \"human\", \"value\": \"q\"}]}]` | conversations[0] is from 'gpt' where a human turn was expected",
        "two humans         | `[{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"human\", \"value\": \"q\"}]}]` | conversations[1] is from 'human' where a gpt turn was expected",
        "unanswered         | `[{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}]}]` | the conversation ends with a human turn that has no answer",
        "unknown role       | `[{\"conversations\": [{\"from\": \"bot\", \"value\": \"q\"}]}]` | conversations[0] has role 'bot', expected human, gpt or system",
        "null value         | `[{\"conversations\": [{\"from\": \"human\", \"value\": null}, {\"from\": \"gpt\", \"value\": \"a\"}]}]` | conversations[0] has null as its value, not a string",
        "string message     | `[{\"conversations\": [\"hi\"]}]`            | conversations[0] is a string, not an object",
        "chosen from human  | `[{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}], \"chosen\": {\"from\": \"human\", \"value\": \"a\"}}]` | 'chosen' is from 'human' where a gpt turn was expected",
    })
    void malformedRecordIsSkippedOrFailsStrictly(String kind, String json, String reason) throws IOException {
        String good = "{\"instruction\": \"ok\", \"output\": \"fine\"}";
        Path f = write("bad.json", "[" + good + ", " + json.substring(1, json.length() - 1) + "]");
        InstructionReader.Loaded l = InstructionReader.read(List.of(f), false);
        assertEquals(1, l.records().size());
        assertEquals(List.of(new Skip(new RecordRef(f, 1, 0), reason)), l.skipped());
        MalformedRecordException e = assertThrows(MalformedRecordException.class, () -> InstructionReader.read(List.of(f), true));
        assertEquals(f + ":1: " + reason + ".", e.getMessage());
    }

    @Test
    void aFileThatIsNotJsonIsNamed() throws IOException {
        Path f = write("broken.json", "[{\"instruction\": \"a\",\n \"output\": }]");
        IOException e = assertThrows(IOException.class, () -> InstructionReader.read(List.of(f), false));
        assertTrue(e.getMessage().startsWith(f + " is not JSON (line 2, column "), e.getMessage());
        Path obj = write("obj.json", "{\"instruction\": \"a\", \"output\": \"b\"}");
        e = assertThrows(IOException.class, () -> InstructionReader.read(List.of(obj), false));
        assertEquals(obj + " is not a JSON array of records (a .jsonl file holds one record per line)", e.getMessage());
        Path missing = dir.resolve("missing.json");
        e = assertThrows(IOException.class, () -> InstructionReader.read(List.of(missing), false));
        assertTrue(e.getMessage().contains(missing + " does not exist"), e.getMessage());
    }

    @Test
    void aJsonlLineThatIsNotJsonIsNamed() throws IOException {
        Path f = write("b.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"c\", \n");
        IOException e = assertThrows(IOException.class, () -> InstructionReader.read(List.of(f), false));
        assertTrue(e.getMessage().startsWith(f + " line 2 is not JSON: "), e.getMessage());
        // a malformed (but valid JSON) JSONL record is named by its line
        Path g = write("c.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\n[]\n");
        MalformedRecordException m = assertThrows(MalformedRecordException.class, () -> InstructionReader.read(List.of(g), true));
        assertEquals(g + " line 3: the record is an array, not a JSON object.", m.getMessage());
    }

    @Test
    void realAlpacaGpt4FilesHaveNoMalformedRecord() throws IOException {
        InstructionReader.Loaded en = InstructionReader.read(List.of(SharedFiles.get("data/alpaca_gpt4_en_1k.json")), true);
        InstructionReader.Loaded zh = InstructionReader.read(List.of(SharedFiles.get("data/alpaca_gpt4_zh_1k.json")), true);
        assertEquals(999, en.records().size());
        assertEquals(1000, zh.records().size());
        assertEquals(0, en.skipped().size() + zh.skipped().size());
        assertTrue(en.records().stream().anyMatch(r -> !r.turns().getFirst().input().isEmpty()));
    }

    @Test
    void realPreferencePairsLoadAsShareGpt() throws IOException {
        InstructionReader.Loaded l = InstructionReader.read(List.of(SharedFiles.get("data/preference_pairs_en.json")), true);
        assertEquals(300, l.records().size());
        assertTrue(l.records().stream().allMatch(r -> r.format() == DataFormat.SHAREGPT));
        assertTrue(l.records().stream().anyMatch(r -> !r.system().isEmpty()));
        assertTrue(l.records().stream().anyMatch(r -> r.turns().size() > 1));
    }
}
