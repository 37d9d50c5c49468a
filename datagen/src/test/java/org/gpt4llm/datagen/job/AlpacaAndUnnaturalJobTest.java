package org.gpt4llm.datagen.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the Alpaca and Unnatural Instructions jobs read, ask and keep. */
class AlpacaAndUnnaturalJobTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Records the prompts it is asked and answers with their length. */
    private static final class Recording implements Teacher {
        final List<ChatRequest> asked = new ArrayList<>();

        @Override
        public ChatResponse chat(ChatRequest request) {
            asked.add(request);
            return new ChatResponse("len " + request.messages().getFirst().content().length(), "stop", 3, 2, 1);
        }
    }

    @Test
    void alpacaAsksTheAlpacaPromptAndReplacesTheOutputInPlace(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("a.json");
        Files.writeString(in, "[{\"instruction\":\"Add.\",\"input\":\"2 3\",\"output\":\"5\",\"k\":1},{\"input\":\"\",\"instruction\":\"Hi.\"}]");
        AlpacaJob job = new AlpacaJob(0.3, 100);
        List<Item> items = job.read(in);
        assertEquals(List.of("0", "1"), items.stream().map(Item::id).toList());
        Recording t = new Recording();
        ObjectNode r0 = job.run(items.get(0), t), r1 = job.run(items.get(1), t);
        String p0 = AlpacaPrompt.WITH_INPUT.formatted("Add.", "2 3"), p1 = AlpacaPrompt.NO_INPUT.formatted("Hi.");
        assertEquals(List.of(ChatRequest.of(p0, 0.3, 100), ChatRequest.of(p1, 0.3, 100)), t.asked);
        assertEquals(job.preview(items.get(0)), t.asked.subList(0, 1));
        assertEquals("{\"instruction\":\"Add.\",\"input\":\"2 3\",\"output\":\"len " + p0.length() + "\",\"k\":1}", JSON.writeValueAsString(r0));
        assertEquals("{\"input\":\"\",\"instruction\":\"Hi.\",\"output\":\"len " + p1.length() + "\"}", JSON.writeValueAsString(r1));
    }

    @Test
    void badAlpacaRecordsAreOneErrorNamingTheRecord(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("a.jsonl");
        AlpacaJob job = new AlpacaJob(0.3, 100);
        Files.writeString(in, "{\"instruction\":\"x\"}\n\n{\"input\":\"y\"}\n");
        assertEquals(in + ":3 has no \"instruction\"", assertThrows(IllegalArgumentException.class, () -> job.read(in)).getMessage());
        Files.writeString(in, "{\"instruction\":\"x\"}\n{\"instruction\":\"x\", \"input\": 3}\n");
        assertEquals(in + ":2: \"input\" is not a string", assertThrows(IllegalArgumentException.class, () -> job.read(in)).getMessage());
        Files.writeString(in, "{\"instruction\":\"x\"}\n{\"instruction\":\n");
        String broken = assertThrows(IOException.class, () -> job.read(in)).getMessage();
        assertTrue(broken.startsWith(in + ":2 is not valid JSON: "), broken);
        Files.writeString(in, "[{\"instruction\":\"x\"}, 7]");
        assertEquals(in + ": record 1 is not a JSON object", assertThrows(IllegalArgumentException.class, () -> job.read(in)).getMessage());
        assertThrows(IOException.class, () -> job.read(dir.resolve("missing.json")));
    }

    @Test
    void unnaturalKeepsTheReferenceAndReadsBothLayouts(@TempDir Path dir) throws Exception {
        Path flat = dir.resolve("u.json");
        Files.writeString(flat, "[{\"instruction\":\"Pick A or B.\",\"input\":\"Sky: (A) blue (B) red\",\"output\":\"A\"}]");
        Path core = dir.resolve("core.jsonl");
        Files.writeString(core, "{\"instruction\":\"Count the words.\",\"instances\":[{\"instruction_with_input\":\"Count the words.\\na b\","
                + "\"input\":\"a b\",\"constraints\":\"None.\",\"output\":\"2\"},{\"instruction_with_input\":\"x\",\"input\":\"a b c\",\"output\":\"3\"}]}\n");
        UnnaturalJob job = new UnnaturalJob(0.0, 50);
        Recording t = new Recording();
        Item f = job.read(flat).getFirst();
        assertEquals("0", f.id());
        String pf = AlpacaPrompt.of("Pick A or B.", "Sky: (A) blue (B) red");
        assertEquals("{\"instruction\":\"Pick A or B.\",\"input\":\"Sky: (A) blue (B) red\",\"output\":\"len " + pf.length()
                + "\",\"reference_output\":\"A\"}", JSON.writeValueAsString(job.run(f, t)));
        List<Item> items = job.read(core);
        assertEquals(List.of("0.0", "0.1"), items.stream().map(Item::id).toList());
        ObjectNode r = job.run(items.get(1), t);
        assertEquals(AlpacaPrompt.of("Count the words.", "a b c"), t.asked.getLast().messages().getFirst().content());
        assertEquals("3", r.get("reference_output").asText());
        assertEquals(2, job.export(List.of(r, r)).size());
        Files.writeString(core, "{\"instruction\":\"Count.\",\"instances\":[{\"input\":\"a b\"}]}\n");
        assertEquals(core + ":1, instances[0] has no \"output\"", assertThrows(IllegalArgumentException.class, () -> job.read(core)).getMessage());
    }
}
