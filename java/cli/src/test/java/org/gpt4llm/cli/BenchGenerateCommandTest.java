package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench generate} at toy size: both sides measured at each batch size, the same greedy tokens, a ratio per batch. */
class BenchGenerateCommandTest {
    @Test
    void reportsTokensPerSecondNextToLibtorch(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("generate.json");
        CliRun r = CliRun.of("bench", "generate", "--preset", "tiny", "--vocab", "300", "--prompt-len", "5",
                "--new-tokens", "6", "--repeats", "1", "--threads", "2", "--quiet", "--json", json.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("batch 1: ratio_vs_peer=") && r.out().contains("batch 8: ratio_vs_peer="), r.out());
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertEquals(4, n.path("rows").size(), "ours and libtorch at batch 1 and 8: " + n);
        for (JsonNode row : n.path("rows")) assertTrue(row.path("tokens_per_s").asDouble() > 0, row.toString());
        // the same fp32 weights on both sides: greedy decoding agrees token for token at this size
        for (JsonNode a : n.path("greedy_agreement")) assertEquals(1.0, a.asDouble(), 1e-9, n.toString());
    }
}
