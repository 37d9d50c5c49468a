package org.gpt4llm.datagen.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ContentKeyTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void theSameContentInAnyFieldOrderHasOneKeyAndAnyChangeAnother() throws Exception {
        String a = ContentKey.ofContent(JSON.readTree("{\"instruction\":\"Add 2 and 3.\",\"input\":\"\"}"));
        String b = ContentKey.ofContent(JSON.readTree("{\"input\":\"\",\"instruction\":\"Add 2 and 3.\"}"));
        assertEquals(a, b);
        assertTrue(a.matches("sha256:[0-9a-f]{20}"), a);
        assertNotEquals(a, ContentKey.ofContent(JSON.readTree("{\"instruction\":\"Add 2 and 3. \",\"input\":\"\"}")));
        assertNotEquals(a, ContentKey.ofContent(JSON.readTree("{\"instruction\":\"Add 2 and 3.\",\"input\":null}")));
        assertEquals("id:q7", ContentKey.ofId("q7"));
    }

    @Test
    void otherSettingsAreRefusedNamingTheSettingAndBothValues() throws Exception {
        RunSettings mine = RunSettings.of().put("model", "gpt-4").put("temperature", 0.7);
        assertTrue(mine.difference(JSON.readTree("{\"temperature\":0.7,\"model\":\"gpt-4\"}"), Path.of("a.jsonl")).isEmpty());
        String why = mine.difference(JSON.readTree("{\"model\":\"gpt-3.5\",\"temperature\":0.7}"), Path.of("a.jsonl")).orElseThrow();
        assertEquals("a.jsonl holds answers made with model \"gpt-3.5\", not \"gpt-4\" as this run asks; give another --out"
                + " (answers of different model are never mixed in one file)", why);
        assertTrue(mine.difference(null, Path.of("a.jsonl")).isPresent());
        // a long written out reads back as an int: still the same setting
        RunSettings tokens = RunSettings.of().put("max_tokens", 64L);
        assertTrue(tokens.matches(JSON.readTree(JSON.writeValueAsString(tokens.values()))));
        assertTrue(tokens.difference(JSON.readTree("{\"max_tokens\":65}"), Path.of("a.jsonl")).isPresent());
    }

    @Test
    void settingsReadBackFromALineMatchAndTheFirstPutDifferenceIsNamed() throws Exception {
        RunSettings mine = RunSettings.of().put("mode", "vicuna").put("max_tokens", 1024L).put("temperature", 0.0).put("model", (String) null);
        // as a line carries them: 1024 reads back as an int, 0.0 as a double
        assertTrue(mine.matches(JSON.readTree(JSON.writeValueAsString(mine.values()))));
        assertTrue(mine.matches(JSON.readTree("{\"model\":null,\"temperature\":0,\"max_tokens\":1024.0,\"mode\":\"vicuna\"}")));
        String why = mine.difference(JSON.readTree("{\"mode\":\"pairwise\",\"max_tokens\":2048,\"temperature\":0.0,\"model\":null}"),
                Path.of("r.jsonl")).orElseThrow();
        assertTrue(why.startsWith("r.jsonl holds answers made with mode \"pairwise\", not \"vicuna\""), why);
        assertTrue(mine.difference(JSON.readTree("{\"mode\":\"vicuna\",\"max_tokens\":1024,\"temperature\":0.0}"), Path.of("r.jsonl"))
                .orElseThrow().startsWith("r.jsonl holds answers made with model (none), not null"));
    }
}
