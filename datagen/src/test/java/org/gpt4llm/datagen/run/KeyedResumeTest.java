package org.gpt4llm.datagen.run;

import static org.gpt4llm.datagen.run.Doubles.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.AlpacaPrompt;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.TeacherOptions;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resume by key over real HTTP, against a teacher whose answer is a function of the prompt: a
 * finished run, then its input changed (a record inserted at the top, one removed, the order
 * reversed, another file of the same length); each rerun asks the teacher exactly the new items,
 * and its export equals a from-scratch run's on the new input, record for record.
 */
class KeyedResumeTest {
    private static final int N = 12;
    private static final String MODEL = "teacher";

    @TempDir
    Path dir;

    private final StringWriter notes = new StringWriter();
    private FakeTeacherServer server;
    private OpenAiTeacher teacher;

    @BeforeEach
    void start() throws Exception {
        server = new FakeTeacherServer(0).answer(Doubles::answer).start();
        teacher = new OpenAiTeacher(TeacherOptions.defaults(MODEL).withKey("GPT4LLM_TEST_NO_KEY", v -> null)
                .withTimeout(Duration.ofSeconds(10)).withRetries(2, Duration.ofMillis(5), Duration.ofMillis(20)).withApiBase(server.apiBase()));
    }

    @AfterEach
    void stop() {
        teacher.close();
        server.close();
    }

    /** A run's summary and the prompts the server was asked during it, in arrival order. */
    record Asked(RunSummary summary, List<String> prompts) {}

    private JobRunner runner(Job job, Path input, Path out) throws Exception {
        return new JobRunner(job, MODEL, job.read(input), out, new PrintWriter(notes, true));
    }

    private Asked run(Job job, Path input, Path out) throws Exception {
        int before = server.requestCount();
        RunSummary s = runner(job, input, out).run(teacher, new RunOptions(4, -1, false, 3, true), false);
        List<String> prompts = new ArrayList<>();
        for (JsonNode b : server.bodies().subList(before, server.requestCount())) {
            JsonNode messages = b.get("messages");
            prompts.add(messages.get(messages.size() - 1).get("content").asText());
        }
        return new Asked(s, prompts);
    }

    private JsonNode export(Job job, Path input, Path out) throws Exception {
        return export(job, input, out, 0);
    }

    private JsonNode export(Job job, Path input, Path out, int missing) throws Exception {
        Path file = out.resolveSibling(out.getFileName() + ".export.json");
        assertEquals(missing, runner(job, input, out).export(file), "items not exported");
        return JSON.readTree(file.toFile());
    }

    /** What a from-scratch run on {@code input} exports. */
    private JsonNode fresh(Job job, Path input, String name) throws Exception {
        Path out = dir.resolve("fresh-" + name + ".jsonl");
        run(job, input, out);
        return export(job, input, out);
    }

    private static Path write(Path file, ArrayNode records) throws Exception {
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), records);
        return file;
    }

    private static ArrayNode read(Path file) throws Exception {
        return (ArrayNode) JSON.readTree(file.toFile());
    }

    /** The prompt the Alpaca job sends for {@code record}. */
    private static String prompt(JsonNode record) {
        return AlpacaPrompt.of(record.get("instruction").asText(), record.path("input").asText(""));
    }

    private static List<String> sorted(List<String> l) {
        List<String> out = new ArrayList<>(l);
        out.sort(null);
        return out;
    }

    @Test
    void aChangedInputAsksExactlyTheNewItemsAndExportsWhatAFreshRunDoes() throws Exception {
        Job job = new AlpacaJob(0.7, 64);
        Path base = Doubles.alpacaFile(dir.resolve("base.json"), N, TestSeeds.next());
        Path finished = dir.resolve("finished.jsonl");
        Asked first = run(job, base, finished);
        assertEquals(N, first.prompts().size());
        assertEquals(N, first.summary().done());

        ArrayNode records = read(base);
        ArrayNode inserted = records.deepCopy();
        inserted.insertObject(0).put("instruction", "task new: name three rivers").put("input", "");
        ArrayNode removed = records.deepCopy();
        removed.remove(5);
        ArrayNode reversed = JSON.createArrayNode();
        for (int i = N - 1; i >= 0; i--) reversed.add(records.get(i));
        ArrayNode other = read(Doubles.alpacaFile(dir.resolve("other-src.json"), N, TestSeeds.next()));
        for (JsonNode r : other) ((ObjectNode) r).put("instruction", "other " + r.get("instruction").asText());

        record Variant(String name, ArrayNode records, List<String> asked, int alreadyDone, int stale) {}
        List<Variant> variants = List.of(
                new Variant("inserted", inserted, List.of(prompt(inserted.get(0))), N, 0),
                new Variant("removed", removed, List.of(), N - 1, 1),
                new Variant("reversed", reversed, List.of(), N, 0),
                new Variant("other", other, other.valueStream().map(KeyedResumeTest::prompt).toList(), 0, N));
        for (Variant v : variants) {
            Path input = write(dir.resolve(v.name() + ".json"), v.records());
            Path out = dir.resolve(v.name() + ".jsonl");
            Files.copy(finished, out);
            long linesBefore = Files.readAllLines(out).size();

            Asked again = run(job, input, out);
            assertEquals(sorted(v.asked()), sorted(again.prompts()), v.name() + ": the teacher is asked exactly the new items");
            RunSummary s = again.summary();
            assertEquals(List.of(v.records().size(), v.alreadyDone(), v.records().size() - v.alreadyDone(), v.stale(), v.asked().size()),
                    List.of(s.total(), s.alreadyDone(), s.fresh(), s.stale(), s.done()), v.name());
            assertEquals(linesBefore + v.asked().size(), Files.readAllLines(out).size(), v.name() + ": nothing collected is removed");
            assertEquals(fresh(job, input, v.name()), export(job, input, out), v.name() + ": the export is a from-scratch run's");
            assertEquals(List.of(), run(job, input, out).prompts(), v.name() + ": a finished run asks nothing");
        }
    }

    @Test
    void aRecordWithItsOwnIdIsAskedAgainWhenItsRequestChangesAndOnlyThen() throws Exception {
        Job job = new AlpacaJob(0.7, 64);
        Path input = Files.writeString(dir.resolve("in.jsonl"), """
                {"id": "a", "instruction": "Name a color.", "input": "", "source": "s1"}
                {"id": "b", "instruction": "Add the numbers.", "input": "2, 3", "source": "s2"}
                {"id": "c", "instruction": "Reverse the word.", "input": "tent", "source": "s3"}
                """);
        Path out = dir.resolve("out.jsonl");
        assertEquals(3, run(job, input, out).prompts().size());
        JsonNode line = JSON.readTree(Files.readAllLines(out).getFirst());
        assertTrue(line.get("key").asText().startsWith("id:"), line.toString());
        assertTrue(line.get("content_key").asText().startsWith("sha256:"), line.toString());
        assertEquals(runner(job, input, out).settings().values(), line.get("settings"));

        // b's input edited under the same id, c's extra field changed (not part of the request), the order changed
        Path edited = Files.writeString(dir.resolve("edited.jsonl"), """
                {"id": "c", "instruction": "Reverse the word.", "input": "tent", "source": "s3, edited"}
                {"id": "b", "instruction": "Add the numbers.", "input": "4, 5", "source": "s2"}
                {"id": "a", "instruction": "Name a color.", "input": "", "source": "s1"}
                """);
        Asked again = run(job, edited, out);
        assertEquals(List.of(AlpacaPrompt.of("Add the numbers.", "4, 5")), again.prompts());
        assertEquals(1, again.summary().stale(), "b's first answer answers nothing of the input any more");
        JsonNode exported = export(job, edited, out);
        assertEquals(fresh(job, edited, "edited"), exported);
        assertEquals("s3, edited", exported.get(0).get("source").asText());
    }

    @Test
    void anOutputOfOtherSettingsIsRefusedInOneSentenceAndLeftAsItIs(@TempDir Path tmp) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 4, TestSeeds.next());
        Path out = dir.resolve("out.jsonl");
        run(new AlpacaJob(0.7, 64), input, out);
        byte[] before = Files.readAllBytes(out);
        int requests = server.requestCount();

        Job colder = new AlpacaJob(0.2, 64);
        String temperature = out + " holds answers made with temperature 0.7, not 0.2 as this run asks; give another --out"
                + " (answers of different temperature are never mixed in one file)";
        assertEquals(temperature, assertThrows(IllegalArgumentException.class, () -> run(colder, input, out)).getMessage());
        StringWriter dry = new StringWriter();
        assertEquals(temperature, assertThrows(IllegalArgumentException.class,
                () -> runner(colder, input, out).dryRun(RunOptions.defaults(), new PrintWriter(dry))).getMessage());
        assertEquals(temperature, assertThrows(IllegalArgumentException.class,
                () -> runner(colder, input, out).export(tmp.resolve("x.json"))).getMessage());

        JobRunner otherModel = new JobRunner(new AlpacaJob(0.7, 64), "gpt-3.5-turbo", new AlpacaJob(0.7, 64).read(input), out,
                new PrintWriter(notes));
        IllegalArgumentException model = assertThrows(IllegalArgumentException.class,
                () -> otherModel.run(teacher, RunOptions.defaults(), false));
        assertEquals(out + " holds answers made with model \"teacher\", not \"gpt-3.5-turbo\" as this run asks; give another --out"
                + " (answers of different model are never mixed in one file)", model.getMessage());
        assertArrayEquals(before, Files.readAllBytes(out), "a refused file is not written to");
        assertEquals(requests, server.requestCount(), "nothing is asked");
    }

    @Test
    void duplicateKeysAreNamedByLine() throws Exception {
        Job job = new AlpacaJob(0.7, 64);
        Path twice = Files.writeString(dir.resolve("twice.jsonl"), """
                {"instruction": "Add 2 and 3.", "input": "", "source": "x"}
                {"id": "t1", "instruction": "Name a color.", "input": ""}
                {"instruction": "Add 2 and 3.", "input": "", "source": "y"}
                {"id": "t1", "instruction": "Name a fruit.", "input": ""}
                """);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> runner(job, twice, dir.resolve("o.jsonl")));
        assertEquals(twice + ":2 and " + twice + ":4 have the same id \"t1\"; every record needs an id of its own", e.getMessage());

        Path same = Files.writeString(dir.resolve("same.jsonl"), Files.readString(twice).replace("\"t1\", \"instruction\": \"Name a fruit",
                "\"t2\", \"instruction\": \"Name a fruit"));
        Path out = dir.resolve("same-out.jsonl");
        Asked asked = run(job, same, out);
        assertTrue(notes.toString().contains(same + ":1 and " + same + ":3 ask the same (no id of their own, the same content):"
                + " asked once, the answer exported at each"), notes.toString());
        assertEquals(3, asked.prompts().size(), "the same request is asked once");
        assertEquals(4, asked.summary().done(), "and answers both of its places");
        assertEquals(3, Files.readAllLines(out).size());
        JsonNode exported = export(job, same, out);
        assertEquals(4, exported.size());
        assertEquals(exported.get(0).get("output"), exported.get(2).get("output"));
        assertEquals("x", exported.get(0).get("source").asText());
        assertEquals("y", exported.get(2).get("source").asText());
    }

    /** An output (and failures file) as the version before keys wrote them: {"id": "<index>", ...record}. */
    @Test
    void anOutputOfAnEarlierVersionIsReadByPositionWithAWarningAndKeyedByTheNextRun() throws Exception {
        Job job = new AlpacaJob(0.7, 64);
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), 10, TestSeeds.next());
        ArrayNode records = read(input);
        Path out = dir.resolve("answers.jsonl");
        StringBuilder legacy = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            ObjectNode r = ((ObjectNode) records.get(i)).deepCopy().put("output", "collected answer " + i);
            // the nested form, as written for a record with an id of its own
            ObjectNode line = JSON.createObjectNode().put("id", String.valueOf(i));
            if (i == 7) line.set("record", r.put("id", "task-7"));
            else line.setAll(r);
            legacy.append(JSON.writeValueAsString(line)).append('\n');
        }
        Files.writeString(out, legacy);
        Files.writeString(JobRunner.failuresFile(out), "{\"id\":\"9\",\"reason\":\"the teacher refused\",\"status\":400,\"attempts\":2}\n");
        server.fail(2, FakeTeacherServer.Failure.BAD_REQUEST); // item 9, asked second

        int before = server.requestCount();
        RunSummary s = runner(job, input, out).run(teacher, new RunOptions(1, -1, false, 3, true), false);
        assertTrue(notes.toString().contains(out + " holds 8 lines of an earlier version, without keys: they are matched to the input"
                + " by position (their \"id\") as that version did, taken as made with this run's settings, and written again with keys"
                + " by a run"), notes.toString());
        assertEquals(2, server.requestCount() - before, "only items 8 and 9 are asked");
        assertEquals(List.of(8, 2, 1), List.of(s.alreadyDone(), s.fresh(), s.done()));
        assertEquals(3, s.failed().getFirst().attempts(), "the failure of an earlier version counts");
        JsonNode exported = export(job, input, out, 1);
        for (int i = 0; i < 8; i++) assertEquals("collected answer " + i, exported.get(i).get("output").asText());

        // keyed now: a record inserted at the top is the one new item, and the collected answers stay with their records
        notes.getBuffer().setLength(0);
        ArrayNode inserted = records.deepCopy();
        inserted.insertObject(0).put("instruction", "task new: name a river").put("input", "");
        Path changed = write(dir.resolve("inserted.json"), inserted);
        Asked again = run(job, changed, out);
        assertEquals(sorted(List.of(prompt(inserted.get(0)), prompt(inserted.get(10)))), sorted(again.prompts()),
                "the new item, and item 9 that failed");
        assertFalse(notes.toString().contains("earlier version"), "no line is read by position any more: " + notes);
        JsonNode after = export(job, changed, out);
        for (int i = 0; i < 8; i++) assertEquals("collected answer " + i, after.get(i + 1).get("output").asText());
        assertEquals(after.get(9), exported.get(8));
    }
}
