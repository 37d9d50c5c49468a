package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.gpt4llm.datagen.job.AlpacaPrompt;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm datagen alpaca} rerun on a changed input, over HTTP against a teacher whose answer
 * is a function of the prompt: it asks exactly the new items, says how many were done, new and no
 * longer matching, and exports what a from-scratch run exports. Another temperature is refused in
 * one sentence; an output of the version before keys is read by position with a warning.
 */
class DatagenResumeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = {"sea", "poem", "three", "fruits", "explain", "blue", "river", "list", "why", "short"};

    @TempDir
    Path dir;

    /** {@code n} Alpaca records "task <tag><i>: <random words>", some with an input. */
    private static ArrayNode records(String tag, int n, Random rnd) {
        ArrayNode a = JSON.createArrayNode();
        for (int i = 0; i < n; i++) {
            StringBuilder words = new StringBuilder();
            for (int w = 0; w < 4; w++) words.append(' ').append(WORDS[rnd.nextInt(WORDS.length)]);
            a.addObject().put("instruction", "task " + tag + i + ":" + words).put("input", i % 3 == 0 ? "some input " + i : "");
        }
        return a;
    }

    private Path write(String name, ArrayNode records) throws Exception {
        Path f = dir.resolve(name);
        JSON.writeValue(f.toFile(), records);
        return f;
    }

    private static CliRun alpaca(FakeTeacherServer server, Path in, Path out, Path export, String... more) {
        List<String> args = new ArrayList<>(List.of("datagen", "alpaca", "--in", in.toString(), "--out", out.toString(), "--export",
                export.toString(), "--api-base", server.apiBase(), "--model", "teacher", "--api-key-env", "NO_KEY_HERE", "--quiet",
                "--concurrency", "4"));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(String[]::new));
    }

    /** The prompts the server received from request {@code from} on. */
    private static List<String> prompts(FakeTeacherServer server, int from) {
        List<String> out = new ArrayList<>();
        for (JsonNode b : server.bodies().subList(from, server.requestCount())) out.add(b.get("messages").get(0).get("content").asText());
        out.sort(null);
        return out;
    }

    private static String prompt(JsonNode r) {
        return AlpacaPrompt.of(r.get("instruction").asText(), r.get("input").asText());
    }

    @Test
    void aChangedInputAsksExactlyTheNewItemsAndExportsWhatAFreshRunDoes() throws Exception {
        Random rnd = TestSeeds.random();
        ArrayNode base = records("", 6, rnd);
        Path in = write("in.json", base), finished = dir.resolve("finished.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(p -> "answer " + Integer.toHexString(p.hashCode())).start()) {
            CliRun first = alpaca(server, in, finished, dir.resolve("finished.json"));
            assertEquals(0, first.code(), first.err());
            assertTrue(first.out().contains("alpaca: 6 done this run, 0 already done, 0 failed, 0 left of 6 items"), first.out());
            assertTrue(first.out().contains("input: 0 items already done, 6 new; 0 output lines match no item of it"), first.out());
            assertEquals(6, server.requestCount());

            ArrayNode inserted = base.deepCopy();
            inserted.insertObject(0).put("instruction", "task new: name a river").put("input", "");
            ArrayNode removed = base.deepCopy();
            removed.remove(2);
            ArrayNode reversed = JSON.createArrayNode();
            for (int i = base.size() - 1; i >= 0; i--) reversed.add(base.get(i));
            ArrayNode other = records("other", 6, rnd);
            record Variant(String name, ArrayNode records, List<JsonNode> asked, String counts) {}
            for (Variant v : List.of(
                    new Variant("inserted", inserted, List.of(inserted.get(0)), "input: 6 items already done, 1 new; 0 output lines match no item of it"),
                    new Variant("removed", removed, List.of(), "input: 5 items already done, 0 new; 1 output lines match no item of it"
                            + " (kept in the file, not exported)"),
                    new Variant("reversed", reversed, List.of(), "input: 6 items already done, 0 new; 0 output lines match no item of it"),
                    new Variant("other", other, other.valueStream().toList(), "input: 0 items already done, 6 new; 6 output lines match"
                            + " no item of it (kept in the file, not exported)"))) {
                Path input = write(v.name() + ".json", v.records()), out = dir.resolve(v.name() + ".jsonl");
                Files.copy(finished, out);
                CliRun dry = CliRun.of("datagen", "alpaca", "--in", input.toString(), "--out", out.toString(), "--model", "teacher", "--dry-run");
                assertTrue(dry.out().contains(v.records().size() + " items, " + (v.records().size() - v.asked().size()) + " already done, "
                        + v.asked().size() + " to do (" + v.asked().size() + " new)"), dry.out());

                int before = server.requestCount();
                Path export = dir.resolve(v.name() + ".export.json");
                CliRun r = alpaca(server, input, out, export);
                assertEquals(0, r.code(), r.err());
                assertTrue(r.out().contains(v.counts()), v.name() + ": " + r.out());
                assertEquals(v.asked().stream().map(DatagenResumeCommandTest::prompt).sorted().toList(), prompts(server, before),
                        v.name() + ": exactly the new items are asked");

                Path freshExport = dir.resolve(v.name() + ".fresh.json");
                assertEquals(0, alpaca(server, input, dir.resolve(v.name() + ".fresh.jsonl"), freshExport).code());
                assertEquals(JSON.readTree(freshExport.toFile()), JSON.readTree(export.toFile()), v.name() + ": the export is a fresh run's");
                assertEquals(v.records().size(), JSON.readTree(export.toFile()).size());
            }

            // another temperature is another run's work: refused, and the file is left as it is
            byte[] kept = Files.readAllBytes(finished);
            CliRun colder = alpaca(server, in, finished, dir.resolve("colder.json"), "--temperature", "0.2");
            assertEquals(2, colder.code());
            assertEquals("gpt4llm datagen alpaca: " + finished + " holds answers made with temperature 0.7, not 0.2 as this run asks;"
                    + " give another --out (answers of different temperature are never mixed in one file)", colder.err().strip());
            assertEquals(new String(kept), Files.readString(finished));
        }
    }

    @Test
    void anOutputOfTheVersionBeforeKeysIsReadByPositionWithAWarning() throws Exception {
        ArrayNode base = records("", 4, TestSeeds.random());
        Path in = write("in.json", base), out = dir.resolve("answers.jsonl");
        StringBuilder today = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            ObjectNode line = JSON.createObjectNode().put("id", String.valueOf(i));
            line.setAll(((ObjectNode) base.get(i)).deepCopy().put("output", "collected " + i));
            today.append(JSON.writeValueAsString(line)).append('\n');
        }
        Files.writeString(out, today);
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(p -> "answer " + Integer.toHexString(p.hashCode())).start()) {
            Path export = dir.resolve("export.json");
            CliRun r = alpaca(server, in, out, export);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains(out + " holds 3 lines of an earlier version, without keys: they are matched to the input by position"),
                    r.err());
            assertEquals(List.of(prompt(base.get(3))), prompts(server, 0));
            JsonNode released = JSON.readTree(export.toFile());
            for (int i = 0; i < 3; i++) assertEquals("collected " + i, released.get(i).get("output").asText());
        }
    }
}
