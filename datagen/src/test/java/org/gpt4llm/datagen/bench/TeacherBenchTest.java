package org.gpt4llm.datagen.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class TeacherBenchTest {
    @Test
    void everyRequestIsAnsweredAndTheLimitIsNeverExceeded() throws Exception {
        // 12 requests at 4 per 200 ms: each level spans several windows, so the limit binds.
        TeacherBench.Config config = new TeacherBench.Config(List.of(1, 2, 4, 8, 16, 32), 12, Duration.ofMillis(2), 4,
                Duration.ofMillis(200), Duration.ofMillis(100));
        List<TeacherBench.Row> rows = TeacherBench.run(config);
        assertEquals(6, rows.size());
        for (TeacherBench.Row row : rows) {
            assertEquals(12, row.answered(), row.format());
            assertTrue(row.maxInWindow() <= 4, row.format());
            assertTrue(row.maxInWindow() >= 1, row.format());
            assertEquals(row.requests() / row.seconds(), row.requestsPerSecond(), 1e-9);
        }
    }
}
