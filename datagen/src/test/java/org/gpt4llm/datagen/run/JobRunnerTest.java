package org.gpt4llm.datagen.run;

import static org.gpt4llm.datagen.run.Doubles.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.AlpacaPrompt;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runner against teacher doubles that answer, sleep and fail: every item ends up in the output
 * exactly once across runs, with the answer to its own prompt; failures are listed and retried.
 */
class JobRunnerTest {
    /** Sleeps of a few milliseconds that shuffle the order in which concurrent items finish. */
    private static final Random JITTER = TestSeeds.random();

    private final Job job = new AlpacaJob(0.7, 256);
    private final StringWriter notes = new StringWriter();

    private JobRunner runner(Path input, Path out) throws IOException {
        return new JobRunner(job, "double", job.read(input), out, new PrintWriter(notes, true));
    }

    /** The key of an item's lines. */
    static String key(Item item) {
        return KeyedItem.of(item).key();
    }

    /** The output's lines by key, failing on a line that does not parse or a key seen twice. */
    static Map<String, ObjectNode> lines(Path out) throws IOException {
        Map<String, ObjectNode> byKey = new HashMap<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            ObjectNode n = (ObjectNode) JSON.readTree(line);
            assertTrue(byKey.put(n.get("key").asText(), n) == null, "key " + n.get("key") + " written twice");
        }
        return byKey;
    }

    /** Every record's output is the teacher's answer to that very item's prompt. */
    private static void assertAnswersMatch(List<Item> items, Map<String, ObjectNode> byKey) {
        for (Item it : items) {
            ObjectNode r = byKey.get(key(it));
            if (r == null) continue;
            String prompt = AlpacaPrompt.of(it.source().get("instruction").asText(), it.source().get("input").asText());
            assertEquals(Doubles.answer(prompt), r.get("output").asText(), "item " + it.id());
            assertEquals(it.source().get("instruction"), r.get("instruction"));
        }
    }

    @Test
    void failuresAreListedAndRetriedAndEveryRecordEndsUpOnce(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 90, 11);
        Path out = dir.resolve("answers.jsonl");
        List<Item> items = job.read(input);
        Set<Integer> flaky = ConcurrentHashMap.newKeySet();
        AtomicInteger inFlight = new AtomicInteger(), maxInFlight = new AtomicInteger();
        Teacher teacher = request -> {
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                Thread.sleep(1 + JITTER.nextInt(3));
                int task = Doubles.taskOf(request);
                if (task % 11 == 5) throw new TeacherException("the teacher refused task " + task, 400, null);
                if (task % 7 == 3 && flaky.add(task)) throw new TeacherException("timed out after 3 attempts", 0, null);
                return Doubles.respond(request);
            } catch (InterruptedException e) {
                throw new TeacherException("interrupted", 0, e);
            } finally {
                inFlight.decrementAndGet();
            }
        };
        int refused = (int) items.stream().filter(it -> Integer.parseInt(it.id()) % 11 == 5).count();
        int flakyCount = (int) items.stream().filter(it -> Integer.parseInt(it.id()) % 7 == 3 && Integer.parseInt(it.id()) % 11 != 5).count();

        RunSummary first = runner(input, out).run(teacher, RunOptions.defaults().withConcurrency(6), false);
        assertEquals(90 - refused - flakyCount, first.done());
        assertEquals(refused + flakyCount, first.failed().size());
        assertEquals(0, first.alreadyDone());
        assertTrue(maxInFlight.get() > 1 && maxInFlight.get() <= 6, "in flight at once: " + maxInFlight.get());
        assertEquals(first.done(), first.calls() - first.failed().size());
        Failure f5 = first.failed().stream().filter(f -> f.id().equals("5")).findFirst().orElseThrow();
        assertEquals(new Failure("5", "the teacher refused task 5", 400, 1), f5);
        assertEquals(refused + flakyCount, Files.readAllLines(JobRunner.failuresFile(out)).size());
        FilePermissions.assertUmaskDefault(JobRunner.failuresFile(out));
        assertTrue(first.describe("alpaca").contains("failed 5 (1 run): the teacher refused task 5"), first.describe("alpaca"));

        RunSummary second = runner(input, out).run(teacher, RunOptions.defaults().withConcurrency(6), false);
        assertEquals(flakyCount, second.done());
        assertEquals(first.done(), second.alreadyDone());
        assertEquals(refused, second.failed().size());
        assertTrue(second.failed().stream().allMatch(f -> f.attempts() == 2 && f.reason().startsWith("the teacher refused")));
        List<String> failedIds = second.failed().stream().map(Failure::id).toList();
        List<String> sorted = new ArrayList<>(failedIds);
        sorted.sort((a, b) -> Integer.compare(Integer.parseInt(a), Integer.parseInt(b)));
        assertEquals(sorted, failedIds, "failures are listed in input order");

        Map<String, ObjectNode> byKey = lines(out);
        assertEquals(90 - refused, byKey.size());
        for (Item it : items) assertEquals(Integer.parseInt(it.id()) % 11 != 5, byKey.containsKey(key(it)), "item " + it.id());
        assertAnswersMatch(items, byKey);
        List<String> failureLines = Files.readAllLines(JobRunner.failuresFile(out));
        assertEquals(refused, failureLines.size());
        JsonNode f = JSON.readTree(failureLines.getFirst());
        assertEquals(key(items.get(5)), f.get("key").asText(), "the failures file is keyed as the output is");
        assertEquals(2, f.get("attempts").asInt());
        assertEquals(new JobRunner(job, "double", items, out, new PrintWriter(notes)).settings().values(), f.get("settings"));
    }

    @Test
    void limitRunsTheFirstItemsNotDoneYet(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 30, 12);
        Path out = dir.resolve("answers.jsonl");
        RunSummary a = runner(input, out).run(Doubles::respond, RunOptions.defaults().withLimit(8), false);
        assertEquals(8, a.done());
        assertEquals(22, a.left());
        List<Item> items = job.read(input);
        assertEquals(items.subList(0, 8).stream().map(JobRunnerTest::key).collect(java.util.stream.Collectors.toSet()), lines(out).keySet());
        RunSummary b = runner(input, out).run(Doubles::respond, RunOptions.defaults().withLimit(5), false);
        assertEquals(5, b.done());
        assertEquals(8, b.alreadyDone());
        assertEquals(17, b.left());
        assertEquals(13, lines(out).size());
        assertTrue(lines(out).keySet().containsAll(items.subList(8, 13).stream().map(JobRunnerTest::key).toList()));
        RunSummary c = runner(input, out).run(Doubles::respond, RunOptions.defaults(), false);
        assertEquals(17, c.done());
        assertTrue(c.complete());
        assertFalse(Files.exists(JobRunner.failuresFile(out)), "no failures, no failures file");
    }

    @Test
    void dryRunPrintsTheFirstRequestsAndWritesNothing(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 10, 13);
        Path out = dir.resolve("sub").resolve("answers.jsonl");
        StringWriter stdout = new StringWriter();
        runner(input, out).dryRun(RunOptions.defaults().withDryRun(true), new PrintWriter(stdout, true));
        Item first = job.read(input).getFirst();
        String prompt = AlpacaPrompt.of(first.source().get("instruction").asText(), first.source().get("input").asText());
        assertTrue(stdout.toString().contains(JSON.writeValueAsString(prompt)), stdout.toString());
        assertTrue(stdout.toString().contains("\"max_tokens\" : 256"), stdout.toString());
        assertEquals(3, stdout.toString().split("\"messages\"").length - 1, "three items previewed");
        assertFalse(Files.exists(out.getParent()), "a dry run creates nothing");
    }

    @Test
    void anUnfinishedLastLineIsCutAndItsItemDoneAgain(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 12, 14);
        Path out = dir.resolve("answers.jsonl");
        runner(input, out).run(Doubles::respond, RunOptions.defaults().withLimit(6).withConcurrency(1), false);
        // a kill mid-write: the last line loses its tail and newline
        byte[] bytes = Files.readAllBytes(out);
        String lastKey = JSON.readTree(Files.readAllLines(out).getLast()).get("key").asText();
        Files.write(out, java.util.Arrays.copyOf(bytes, bytes.length - 9));

        StringWriter stdout = new StringWriter();
        runner(input, out).dryRun(RunOptions.defaults(), new PrintWriter(stdout, true));
        assertTrue(stdout.toString().contains("5 already done, 7 to do"), stdout.toString());
        assertEquals(bytes.length - 9, Files.size(out), "a dry run leaves the file as it is");

        RunSummary s = runner(input, out).run(Doubles::respond, RunOptions.defaults(), false);
        assertEquals(7, s.done());
        assertTrue(notes.toString().contains("cut an unfinished last line"), notes.toString());
        Map<String, ObjectNode> byKey = lines(out);
        assertEquals(12, byKey.size());
        assertTrue(byKey.containsKey(lastKey));
        assertAnswersMatch(job.read(input), byKey);
    }

    @Test
    void aByteThatIsNotUtf8BeforeTheLastLineIsNamedWithItsOffset(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 5, 15);
        Path out = dir.resolve("answers.jsonl");
        runner(input, out).run(Doubles::respond, RunOptions.defaults(), false);
        byte[] bytes = Files.readAllBytes(out);
        int secondLine = 0;
        while (bytes[secondLine] != '\n') secondLine++;
        int at = secondLine + 1 + 10; // inside line 2's JSON, which Jackson reads from the bytes themselves
        bytes[at] = (byte) 0xff;
        Files.write(out, bytes);
        IOException e = assertThrows(IOException.class, () -> runner(input, out).run(Doubles::respond, RunOptions.defaults(), false));
        assertEquals(out + " line 2 (byte " + at + "): the byte 0xff is not UTF-8; gpt4llm reads its text and JSON files as UTF-8",
                e.getMessage());
    }

    @Test
    void aBrokenLineBeforeTheLastIsOneErrorNamingIt(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 5, 15);
        Path out = dir.resolve("answers.jsonl");
        runner(input, out).run(Doubles::respond, RunOptions.defaults(), false);
        List<String> lines = new ArrayList<>(Files.readAllLines(out));
        lines.set(1, lines.get(1).substring(0, 20));
        Files.write(out, lines);
        IOException e = assertThrows(IOException.class, () -> runner(input, out).run(Doubles::respond, RunOptions.defaults(), false));
        assertEquals("line 2 of " + out + " is not an output line (a JSON object with a \"key\" and \"settings\", or an earlier"
                + " version's \"id\"); fix or remove that line to resume", e.getMessage());

        // another input's output: its lines stay, answer nothing of this input, and every item is new
        Path other = Doubles.alpacaFile(dir.resolve("other.json"), 3, 16);
        lines.remove(1);
        Files.write(out, lines);
        RunSummary s = runner(other, out).run(Doubles::respond, RunOptions.defaults(), false);
        assertEquals(List.of(0, 3, 4, 3), List.of(s.alreadyDone(), s.fresh(), s.stale(), s.done()));
        assertTrue(s.describe("alpaca").contains("input: 0 items already done, 3 new; 4 output lines match no item of it"
                + " (kept in the file, not exported)"), s.describe("alpaca"));
        assertEquals(7, Files.readAllLines(out).size());
    }

    @Test
    void exportKeepsInputOrderAndFieldOrder(@TempDir Path dir) throws Exception {
        // fields in an unusual order, an extra field, and an item without output
        Path input = dir.resolve("in.jsonl");
        List<String> src = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            src.add(i % 5 == 4 ? "{\"instruction\":\"task " + i + ": say hi\",\"input\":\"\"}"
                    : "{\"source\":\"s" + i + "\",\"output\":\"old\",\"input\":\"x" + i + "\",\"instruction\":\"task " + i + ": echo\"}");
        }
        Files.write(input, src);
        Path out = dir.resolve("answers.jsonl");
        Teacher firstLast = request -> {
            try {
                Thread.sleep(Doubles.taskOf(request) == 0 ? 40 : JITTER.nextInt(3)); // the first item finishes last
            } catch (InterruptedException e) {
                throw new TeacherException("interrupted", 0, e);
            }
            return Doubles.respond(request);
        };
        JobRunner runner = runner(input, out);
        runner.run(firstLast, RunOptions.defaults().withConcurrency(8), false);
        List<String> written = new ArrayList<>();
        for (String l : Files.readAllLines(out)) written.add(JSON.readTree(l).get("key").asText());
        assertFalse(written.equals(job.read(input).stream().map(JobRunnerTest::key).toList()),
                "the output is in completion order, so the export has something to sort");

        Path export = dir.resolve("release").resolve("alpaca_gpt4_data.json");
        assertEquals(0, runner.export(export));
        FilePermissions.assertUmaskDefault(export);  // a file others may read, as the user's umask says
        JsonNode released = JSON.readTree(export.toFile());
        assertEquals(40, released.size());
        for (int i = 0; i < 40; i++) {
            JsonNode in = JSON.readTree(src.get(i));
            JsonNode r = released.get(i);
            List<String> inFields = new ArrayList<>(), outFields = new ArrayList<>();
            in.fieldNames().forEachRemaining(inFields::add);
            r.fieldNames().forEachRemaining(outFields::add);
            if (!inFields.contains("output")) inFields.add("output");
            assertEquals(inFields, outFields, "record " + i);
            assertEquals(in.get("instruction"), r.get("instruction"));
            assertEquals(Doubles.answer(AlpacaPrompt.of(in.get("instruction").asText(), in.get("input").asText())), r.get("output").asText());
        }
        try (var files = Files.list(export.getParent())) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void theTeachersOwnUsageReportEndsTheSummary(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 4, 17);
        class Priced implements Teacher, org.gpt4llm.datagen.teacher.UsageReport {
            final AtomicInteger calls = new AtomicInteger();

            @Override
            public ChatResponse chat(org.gpt4llm.datagen.teacher.ChatRequest request) {
                calls.incrementAndGet();
                return Doubles.respond(request);
            }

            @Override
            public String usageSummary() {
                return "cost: $" + calls.get() * 0.25;
            }
        }
        RunSummary s = runner(input, dir.resolve("o.jsonl")).run(new Priced(), RunOptions.defaults(), false);
        assertEquals(4, s.calls());
        assertEquals(28, s.completionTokens());
        assertTrue(s.describe("alpaca").contains("cost: $1.0"), s.describe("alpaca"));
    }

    /** A record with an "id" of its own (an Alpaca task id, say) keeps it through the output log, a resume and the export. */
    @Test
    void aRecordWithItsOwnIdKeepsIt(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 3, 18);
        Job withId = new Job() {
            public String name() { return "odd"; }
            public List<Item> read(Path in) throws IOException { return job.read(in); }
            public ObjectNode settings() { return job.settings(); }
            public List<String> prompts() { return job.prompts(); }
            public List<org.gpt4llm.datagen.teacher.ChatRequest> preview(Item item) { return job.preview(item); }
            public ObjectNode run(Item item, Teacher teacher) throws TeacherException {
                ObjectNode r = job.run(item, teacher);
                // the last item's record is a lone "record" object, which must not read back as a nested one
                return item.id().equals("2") ? JSON.createObjectNode().set("record", r) : r.put("id", "task-" + item.id());
            }
            public JsonNode export(List<ObjectNode> records) { return job.export(records); }
        };
        Path out = dir.resolve("o.jsonl"), export = dir.resolve("export.json");
        RunSummary s = new JobRunner(withId, "double", withId.read(input), out, new PrintWriter(notes, true)).run(Doubles::respond,
                RunOptions.defaults(), false);
        assertEquals(3, s.done(), s.failed().toString());
        JobRunner again = new JobRunner(withId, "double", withId.read(input), out, new PrintWriter(notes, true));
        assertEquals(3, again.run(Doubles::respond, RunOptions.defaults(), false).alreadyDone());
        assertEquals(0, again.export(export));
        JsonNode released = JSON.readTree(export.toFile());
        assertEquals("task-0", released.get(0).get("id").asText());
        assertEquals("task-1", released.get(1).get("id").asText());
        assertTrue(released.get(0).has("output") && released.get(0).has("instruction"), released.toString());
        assertEquals(List.of("record"), fieldNames(released.get(2)));
        assertTrue(released.get(2).get("record").has("output"), released.toString());
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
