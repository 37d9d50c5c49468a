package org.gpt4llm.datagen.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.teacher.FakeTeacherServer.Failure;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.TeacherOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole collection path over real HTTP: the runner, the OpenAI client and a server that
 * rate-limits, errs, stalls, sends malformed JSON and drops connections. Transient failures are
 * retried inside a run; requests the API refuses for good are listed with their reason and retried by
 * the next run; every record ends up exactly once.
 */
class RunnerOverHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The server's answer names the task it was asked (the instruction line of the Alpaca prompt). */
    private static String echo(String prompt) {
        String[] lines = prompt.split("\n");
        for (int i = 0; i + 1 < lines.length; i++) if (lines[i].equals("### Instruction:")) return "answer to: " + lines[i + 1];
        return "answer to: ?";
    }

    @Test
    void everyRecordExactlyOnceThroughFailures(@TempDir Path dir) throws Exception {
        Path input = dir.resolve("alpaca.json"), out = dir.resolve("out.jsonl");
        StringBuilder data = new StringBuilder("[");
        for (int i = 0; i < 40; i++) data.append(i == 0 ? "" : ",").append("{\"instruction\": \"Task number ").append(i)
                .append(".\", \"input\": \"\"}");
        Files.writeString(input, data.append("]").toString(), StandardCharsets.UTF_8);
        Job job = new AlpacaJob(0.7, 64);
        List<Item> items = job.read(input);
        TeacherOptions options = TeacherOptions.defaults("teacher").withKey("GPT4LLM_TEST_NO_KEY", v -> null)
                .withTimeout(Duration.ofMillis(400)).withRetries(8, Duration.ofMillis(5), Duration.ofMillis(40));
        StringWriter notes = new StringWriter();

        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(RunnerOverHttpTest::echo).latency(Duration.ofMillis(5)).slowDelay(Duration.ofMillis(900))
                .retryAfterSeconds(0)
                .failRandomly(0.3, 7, Failure.RATE_LIMITED, Failure.SERVER_ERROR, Failure.UNAVAILABLE, Failure.SLOW,
                        Failure.MALFORMED_JSON, Failure.CLOSED_MID_BODY)
                .fail(3, Failure.BAD_REQUEST).fail(11, Failure.BAD_REQUEST).start();
             OpenAiTeacher teacher = new OpenAiTeacher(options.withApiBase(server.apiBase()))) {
            RunSummary first = new JobRunner(job, "teacher", items, out, new PrintWriter(notes, true))
                    .run(teacher, new RunOptions(6, -1, false, 3, true), false);
            assertEquals(2, first.failed().size(), "the two refused requests fail for good: " + first.failed());
            for (var f : first.failed()) assertEquals(400, f.status(), f.toString());
            assertEquals(38, first.done());
            assertTrue(teacher.usage().snapshot().retries() > 0, "transient failures were retried");
        }
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(RunnerOverHttpTest::echo).start();
             OpenAiTeacher teacher = new OpenAiTeacher(options.withApiBase(server.apiBase()))) {
            RunSummary second = new JobRunner(job, "teacher", items, out, new PrintWriter(notes, true))
                    .run(teacher, new RunOptions(6, -1, false, 3, true), false);
            assertEquals(List.of(), second.failed());
            assertEquals(38, second.alreadyDone());
            assertEquals(2, second.done(), "the next run retries what failed");
        }
        Map<String, Item> byKey = new HashMap<>();
        for (Item it : items) byKey.put(JobRunnerTest.key(it), it);
        Set<String> keys = new HashSet<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            JsonNode n = JSON.readTree(line);
            assertTrue(keys.add(n.get("key").asText()), "written twice: " + line);
            String task = byKey.get(n.get("key").asText()).source().get("instruction").asText();
            assertEquals("answer to: " + task, n.get("output").asText(), "each record holds the answer to its own prompt");
        }
        assertEquals(40, keys.size());
        assertTrue(!Files.exists(JobRunner.failuresFile(out)), "nothing fails any more");
    }
}
