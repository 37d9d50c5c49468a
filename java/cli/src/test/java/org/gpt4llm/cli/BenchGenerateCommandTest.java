package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.bench.GenerateBench;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
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
        GenerateBench.Report n = JsonChecks.read(json, GenerateBench.Report.class);
        assertEquals(List.of(1, 1, 8, 8), n.rows().stream().map(GenerateBench.Row::batch).toList(),
                "ours and libtorch at batch 1 and 8: " + n.rows());
        assertEquals(List.of("ours (cpu)", "libtorch", "ours (cpu)", "libtorch"),
                n.rows().stream().map(GenerateBench.Row::side).toList());
        for (GenerateBench.Row row : n.rows()) {
            assertTrue(row.tokensPerS() > 0 && row.prefillS() > 0 && row.decodeS() > 0, row.toString());
        }
        assertEquals(6, n.newTokens());
        // the same fp32 weights on both sides: greedy decoding agrees token for token at this size
        assertArrayEquals(new double[] {1.0, 1.0}, n.greedyAgreement(), 1e-9);
    }
}
