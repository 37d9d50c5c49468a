package org.gpt4llm.datagen.run;

import static org.gpt4llm.datagen.run.Doubles.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.job.Job;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run killed with SIGKILL mid-way, twice, and restarted: the output never has an unparseable line
 * before its last, and in the end every item is there exactly once, under its key, and the export is
 * the whole input in order.
 */
class KilledRunTest {
    private static final int ITEMS = 200;

    private static Process start(Path input, Path out, Path log) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), KilledRunMain.class.getName(),
                input.toString(), out.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Keys of the output's lines; every line but the last must parse. */
    private static List<String> keys(Path out) throws Exception {
        if (!Files.exists(out)) return List.of();
        List<String> lines = Files.readAllLines(out);
        List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            try {
                ids.add(JSON.readTree(lines.get(i)).get("key").asText());
            } catch (Exception e) {
                assertEquals(lines.size() - 1, i, "only the last line may be unfinished: line " + (i + 1));
            }
        }
        return ids;
    }

    @Test
    void killedTwiceAndRestartedEveryRecordExactlyOnce(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), ITEMS, 21);
        Path out = dir.resolve("answers.jsonl");
        int before = 0;
        for (int kill = 1; kill <= 2; kill++) {
            Process p = start(input, out, dir.resolve("log" + kill));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            // kill once it has written another 40 or so records
            while (keys(out).size() < before + 40 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(p.isAlive(), "run " + kill + " ended before it could be killed: " + Files.readString(dir.resolve("log" + kill)));
            p.destroyForcibly().waitFor();
            List<String> ids = keys(out);
            assertEquals(ids.size(), new HashSet<>(ids).size(), "no duplicate after kill " + kill);
            assertTrue(ids.size() < ITEMS, "killed mid-run");
            before = ids.size();
        }
        Process p = start(input, out, dir.resolve("log3"));
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the last run finishes");
        String log = Files.readString(dir.resolve("log3"));
        assertEquals(0, p.exitValue(), log);
        assertTrue(log.contains("already done"), log);

        Job job = new AlpacaJob(0.7, 64);
        List<Item> items = job.read(input);
        Map<String, Item> byKey = new HashMap<>();
        for (Item it : items) byKey.put(JobRunnerTest.key(it), it);
        Set<String> keys = new HashSet<>();
        for (String line : Files.readAllLines(out)) {
            JsonNode n = JSON.readTree(line);
            assertTrue(keys.add(n.get("key").asText()), "key " + n.get("key") + " twice");
            assertEquals(byKey.get(n.get("key").asText()).source().get("instruction"), n.get("instruction"), line);
        }
        assertEquals(ITEMS, keys.size());
        Path export = dir.resolve("export.json");
        assertEquals(0, new JobRunner(job, "double", items, out, new java.io.PrintWriter(java.io.Writer.nullWriter())).export(export));
        JsonNode released = JSON.readTree(export.toFile());
        assertEquals(ITEMS, released.size());
        for (int i = 0; i < ITEMS; i++) assertEquals(items.get(i).source().get("instruction"), released.get(i).get("instruction"));
    }
}
