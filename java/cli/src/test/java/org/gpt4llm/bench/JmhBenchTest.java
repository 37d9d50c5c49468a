package org.gpt4llm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;

/** One JMH benchmark, very briefly, in a forked JVM through {@code gpt4llm bench jmh}; no timing is asserted. */
class JmhBenchTest {
    @Test
    void oneBenchmarkRunsInAFork() {
        CliRun run = CliRun.of("bench", "jmh", "--include", "RougeBench.rougeLTokens", "--quick", "--quiet");
        System.out.print(run.out());
        assertEquals(0, run.code(), run.out() + run.err());
        var lines = run.out().lines().filter(l -> l.startsWith("RougeBench.")).toList();
        assertEquals(1, lines.size(), run.out());
        String[] cols = lines.get(0).trim().split("\\s+");
        assertEquals("RougeBench.rougeLTokens", cols[0]);
        assertEquals("avgt", cols[1]);
        assertTrue(Double.parseDouble(cols[2]) > 0, lines.get(0));
        assertEquals("us/op", cols[cols.length - 1]);
    }

    @Test
    void anIncludeThatMatchesNothingIsOneSentence() {
        CliRun run = CliRun.of("bench", "jmh", "--include", "NoSuchBench", "--quick", "--quiet");
        assertEquals(2, run.code(), run.out());
        assertTrue(run.err().contains("--include NoSuchBench matches no benchmark"), run.err());
    }
}
