package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.bench.CpuKernelBench;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm bench --quick}: every section runs and lands in the table and the JSON, with the
 * same rows in both; no timing is asserted.
 */
class BenchSuiteCommandTest {
    private static final List<String> SECTIONS = List.of("ceilings", "kernels", "step", "generate", "datagen", "jvm");

    @Test
    void quickSuiteHasEverySectionInTheTableAndTheJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("out/bench.json");
        CliRun run = CliRun.of("bench", "--quick", "--quiet", "--threads", "2", "--json", json.toString());
        System.out.print(run.out());
        assertEquals(0, run.code(), run.out() + run.err());
        assertFalse(run.out().contains("PROBLEM"), run.out());

        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertTrue(n.path("quick").asBoolean(), n.toString());
        assertEquals(2, n.path("threads").asInt());
        JsonNode m = n.path("machine");
        assertEquals(Runtime.getRuntime().availableProcessors(), m.path("cores").asInt(), m.toString());
        for (String key : List.of("cpu", "jdk", "openblas", "libtorch", "native_build")) {
            assertFalse(m.path(key).asText().isBlank(), key + " missing in " + m);
        }
        assertEquals(0, n.path("problems").size(), n.path("problems").toString());

        Map<String, Integer> perSection = new HashMap<>();
        String table = run.out();
        for (JsonNode r : n.path("rows")) {
            String section = r.path("section").asText(), name = r.path("benchmark").asText();
            perSection.merge(section, 1, Integer::sum);
            double ours = r.path("ours").asDouble();
            assertTrue(ours > 0 && Double.isFinite(ours), "ours of " + name + ": " + r);
            if (r.path("peer").isNull()) {
                assertTrue(r.path("ratio").isNull(), "a ratio without a peer: " + r);
                assertEquals("jvm", section, "only the JMH rows have no peer: " + r);
            } else {
                double peer = r.path("peer").asDouble();
                assertTrue(peer > 0 && Double.isFinite(peer), "peer of " + name + ": " + r);
                assertEquals(ours / peer, r.path("ratio").asDouble(), 1e-12 * ours / peer, "ratio of " + name);
                assertFalse(r.path("peer_name").asText().isBlank(), r.toString());
            }
            assertFalse(r.path("unit").asText().isBlank(), r.toString());
            // the same row is in the printed table
            assertTrue(table.lines().anyMatch(l -> l.startsWith(section) && l.contains(name)), name + " not in:\n" + table);
        }
        for (String s : SECTIONS) assertTrue(perSection.getOrDefault(s, 0) > 0, "no rows for " + s + ": " + perSection);
        // every table line below the header is one JSON row
        long tableRows = table.lines().filter(l -> SECTIONS.stream().anyMatch(s -> l.startsWith(s + " "))).count();
        assertEquals(n.path("rows").size(), tableRows, table);

        // the kernels agreed with libtorch, and both step sides computed the same first loss
        for (JsonNode c : n.path("details").path("kernels").path("cases")) {
            assertTrue(c.path("rel_err").asDouble() <= CpuKernelBench.TOLERANCE, c.toString());
        }
        for (JsonNode s : n.path("details").path("step")) {
            assertTrue(s.path("first_loss_rel_diff").asDouble() < 1e-4, s.toString());
            assertEquals(2, s.path("libtorch").path("threads").asInt(), "libtorch threads: " + s);
        }
        assertTrue(table.contains("ratio = ours / peer"), "no legend under the table:\n" + table);
    }

    @Test
    void sectionsCanBeChosenAndBadNamesAreOneSentence(@TempDir Path dir) throws Exception {
        CliRun bad = CliRun.of("bench", "--only", "kernels,gpu", "--json", dir.resolve("x.json").toString());
        assertEquals(2, bad.code(), bad.out());
        assertTrue(bad.err().contains("--only: gpu is not a section"), bad.err());

        Path json = dir.resolve("datagen.json");
        // a section named like a subcommand is still the option's value
        CliRun run = CliRun.of("bench", "--quick", "--quiet", "--only", "datagen", "--skip", "ceilings",
                "--json", json.toString());
        assertEquals(0, run.code(), run.out() + run.err());
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertEquals(1, n.path("sections").size(), n.toString());
        assertEquals("datagen", n.path("sections").get(0).asText(), n.toString());
        for (JsonNode r : n.path("rows")) assertEquals("datagen", r.path("section").asText(), r.toString());
        assertTrue(n.path("rows").size() > 0, n.toString());
    }
}
