package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.bench.BenchSuite;
import org.gpt4llm.bench.CpuKernelBench;
import org.gpt4llm.bench.GenerateBench;
import org.gpt4llm.bench.JmhBench;
import org.gpt4llm.bench.StepBench;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm bench --quick}: every section runs and lands in the table and the JSON, with the
 * same rows in both; no timing is asserted. The JSON is read into the records that write it, every
 * field required; only the step reports, whose LoRA keys are there for the LoRA step alone, are read by key.
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

        JsonNode n = JsonChecks.tree(json);
        assertEquals("suite", JsonChecks.text(n, "bench"));
        assertTrue(JsonChecks.required(n, "quick").booleanValue(), n.toString());
        assertEquals(2, (int) JsonChecks.number(n, "threads"));
        assertEquals(SECTIONS, strings(JsonChecks.nonEmptyArray(n, "sections")));
        BenchSuite.Machine m = JsonChecks.read(JsonChecks.required(n, "machine"), BenchSuite.Machine.class);
        assertEquals(Runtime.getRuntime().availableProcessors(), m.cores(), m.toString());
        assertEquals(2, m.threads(), m.toString());
        for (String value : List.of(m.cpu(), m.jdk(), m.openblas(), m.libtorch(), m.nativeBuild())) {
            assertFalse(value.isBlank(), "a blank machine value in " + m);
        }
        JsonNode problems = JsonChecks.required(n, "problems");
        assertTrue(problems.isArray() && problems.isEmpty(), problems.toString());

        Map<String, Integer> perSection = new HashMap<>();
        String table = run.out();
        List<BenchSuite.Row> rows = JsonChecks.readList(n, "rows", BenchSuite.Row.class);
        for (BenchSuite.Row r : rows) {
            String section = r.section(), name = r.benchmark();
            perSection.merge(section, 1, Integer::sum);
            assertTrue(r.ours() > 0 && Double.isFinite(r.ours()), "ours of " + name + ": " + r);
            if (Double.isNaN(r.peer())) {
                assertTrue(Double.isNaN(r.ratio()), "a ratio without a peer: " + r);
                assertEquals("jvm", section, "only the JMH rows have no peer: " + r);
            } else {
                assertTrue(r.peer() > 0 && Double.isFinite(r.peer()), "peer of " + name + ": " + r);
                assertEquals(r.ours() / r.peer(), r.ratio(), 1e-12 * r.ours() / r.peer(), "ratio of " + name);
                assertFalse(r.peerName().isBlank(), r.toString());
            }
            assertFalse(r.unit().isBlank(), r.toString());
            // the same row is in the printed table
            assertTrue(table.lines().anyMatch(l -> l.startsWith(section) && l.contains(name)), name + " not in:\n" + table);
        }
        for (String s : SECTIONS) assertTrue(perSection.getOrDefault(s, 0) > 0, "no rows for " + s + ": " + perSection);
        // every table line below the header is one JSON row
        long tableRows = table.lines().filter(l -> SECTIONS.stream().anyMatch(s -> l.startsWith(s + " "))).count();
        assertEquals(rows.size(), tableRows, table);

        // each section's own report is there in full
        JsonNode details = JsonChecks.required(n, "details");
        assertEquals(List.of("kernels", "step", "generate", "datagen", "jmh"), fieldNames(details));
        // the kernels agreed with libtorch, and both step sides computed the same first loss
        BenchSuite.KernelDetails kernels = JsonChecks.read(JsonChecks.required(details, "kernels"), BenchSuite.KernelDetails.class);
        assertFalse(kernels.cases().isEmpty(), kernels.toString());
        for (BenchSuite.KernelCase c : kernels.cases()) assertTrue(c.relErr() <= CpuKernelBench.TOLERANCE, c.toString());
        JsonNode steps = JsonChecks.nonEmptyArray(details, "step");
        assertEquals(2, steps.size(), "a full and a LoRA step: " + steps);
        for (JsonNode s : steps) {
            assertTrue(JsonChecks.number(s, "first_loss_rel_diff") < 1e-4, s.toString());
            StepBench.Report.Side libtorch = JsonChecks.read(JsonChecks.required(s, "libtorch"), StepBench.Report.Side.class);
            assertEquals(2, libtorch.threads(), "libtorch threads: " + s);
        }
        // the LoRA step has every key of the report but the CPU peer's (its peer is libtorch), in the report's order
        PropertyNamingStrategies.NamingBase snake = (PropertyNamingStrategies.NamingBase) PropertyNamingStrategies.SNAKE_CASE;
        List<String> keys = Arrays.stream(StepBench.Report.class.getRecordComponents())
                .map(c -> snake.translate(c.getName())).filter(k -> !k.equals("cpu") && !k.equals("ratio_vs_cpu")).toList();
        assertEquals(keys, fieldNames(steps.get(1)));
        JsonChecks.read(JsonChecks.required(steps.get(1), "ours"), StepBench.Report.Side.class);
        GenerateBench.Report generate = JsonChecks.read(JsonChecks.required(details, "generate"), GenerateBench.Report.class);
        assertEquals(4, generate.rows().size(), generate.toString());
        for (BenchSuite.DatagenRow d : JsonChecks.readList(details, "datagen", BenchSuite.DatagenRow.class)) {
            assertEquals(d.requests(), d.answered(), d.toString());
        }
        assertFalse(JsonChecks.readList(details, "jmh", JmhBench.Row.class).isEmpty());
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
        JsonNode n = JsonChecks.tree(json);
        assertEquals(List.of("datagen"), strings(JsonChecks.nonEmptyArray(n, "sections")));
        for (BenchSuite.Row r : JsonChecks.readList(n, "rows", BenchSuite.Row.class)) {
            assertEquals("datagen", r.section(), r.toString());
        }
        JsonNode details = JsonChecks.required(n, "details");
        assertEquals(List.of("datagen"), fieldNames(details), "only the section that ran: " + details);
        JsonChecks.readList(details, "datagen", BenchSuite.DatagenRow.class);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        for (JsonNode s : array) out.add(s.asText());
        return out;
    }

    private static List<String> fieldNames(JsonNode object) {
        List<String> out = new ArrayList<>();
        object.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
