package org.gpt4llm.datagen.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.AlpacaPrompt;
import org.gpt4llm.datagen.job.CompareJob;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.run.JobRunner;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.run.RunSummary;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.TeacherOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo teacher over real HTTP: the OpenAI client, and the alpaca and compare jobs run by the job runner. */
class DemoTeacherServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static OpenAiTeacher client(DemoTeacherServer server) {
        return new OpenAiTeacher(TeacherOptions.defaults(DemoTeacherServer.MODEL).withKey("GPT4LLM_TEST_NO_KEY", v -> null)
                .withApiBase(server.apiBase()));
    }

    @Test
    void answersAlpacaPromptsRatesAnswersAndSaysWhatItIs() throws Exception {
        try (DemoTeacherServer server = DemoTeacherServer.start(0); OpenAiTeacher teacher = client(server)) {
            assertTrue(server.apiBase().matches("http://127\\.0\\.0\\.1:\\d+/v1"), server.apiBase());
            for (DemoTask t : DemoTasks.generate(24, 5)) {
                ChatResponse r = teacher.chat(ChatRequest.of(AlpacaPrompt.of(t.instruction(), t.input()), 0.7, 64));
                assertEquals(t.answer(), r.content(), t.toString());
                assertTrue(r.promptTokens() > 0 && r.completionTokens() > 0, r.toString());
            }
            ChatResponse other = teacher.chat(ChatRequest.of(AlpacaPrompt.of("Give three tips for staying healthy.", ""), 0.7, 256));
            assertEquals(DemoTeacherServer.NOT_A_DEMO_TASK, other.content());
            ChatResponse hello = teacher.chat(ChatRequest.of("Hello, who are you?", 0.7, 256));
            assertEquals(DemoTeacherServer.ABOUT, hello.content());
            assertTrue(hello.content().contains("not a language model"));
            assertEquals(26, server.requestCount());
        }
    }

    /**
     * A weaker teacher answers about its share of the tasks otherwise than the strong one, always the same
     * tasks alike, each sloppy answer rated below 10 by the strong teacher's rules.
     */
    @Test
    void aWeakerTeacherAnswersItsShareSloppilyAndAlwaysAlike() throws Exception {
        List<DemoTask> tasks = DemoTasks.generate(400, org.gpt4llm.testing.TestSeeds.next());
        int wrong = 0;
        try (DemoTeacherServer server = DemoTeacherServer.start(0, 0.3); OpenAiTeacher teacher = client(server)) {
            for (DemoTask t : tasks.subList(0, 8)) {
                ChatResponse r = teacher.chat(ChatRequest.of(AlpacaPrompt.of(t.instruction(), t.input()), 0.7, 64));
                assertEquals(DemoTeacherServer.reply(AlpacaPrompt.of(t.instruction(), t.input()), 0.3), r.content(), "the server answers as reply does");
            }
        }
        for (DemoTask t : tasks) {
            String prompt = AlpacaPrompt.of(t.instruction(), t.input());
            String weak = DemoTeacherServer.reply(prompt, 0.3);
            assertEquals(weak, DemoTeacherServer.reply(prompt, 0.3), "the same task, the same answer");
            assertEquals(t.answer(), DemoTeacherServer.reply(prompt, 0), "share 0 is the strong teacher");
            assertTrue(!DemoTeacherServer.reply(prompt, 1).equals(t.answer()), "share 1 answers every task sloppily: " + t);
            if (!weak.equals(t.answer())) {
                wrong++;
                assertTrue(DemoTeacherServer.score(t.answer(), weak) < 10, weak + " for " + t);
                assertTrue(!DemoTeacherServer.reply(prompt, 0.6).equals(t.answer()), "a larger share answers a superset sloppily: " + t);
            }
        }
        // 400 draws of a 0.3 share: the count lies within 5 standard deviations (about 46) of 120
        assertTrue(Math.abs(wrong - 120) < 46, wrong + " of 400 answered sloppily");
        assertThrows(IllegalArgumentException.class, () -> DemoTeacherServer.start(0, 1.5));
    }

    @Test
    void listsItselfAsARuleBasedDemoTeacherAndNamesItselfInReplies() throws Exception {
        try (DemoTeacherServer server = DemoTeacherServer.start(0)) {
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> models = http.send(HttpRequest.newBuilder(URI.create(server.apiBase() + "/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, models.statusCode());
            JsonNode entry = JSON.readTree(models.body()).get("data").get(0);
            assertEquals(DemoTeacherServer.MODEL, entry.get("id").asText());
            assertTrue(entry.get("owned_by").asText().contains("rule-based demo teacher, not a language model"), entry.toString());

            String body = "{\"model\": \"gpt-4\", \"messages\": [{\"role\": \"user\", \"content\": "
                    + JSON.writeValueAsString(AlpacaPrompt.of("Add the two numbers.", "2, 40")) + "}]}";
            HttpResponse<String> chat = http.send(HttpRequest.newBuilder(URI.create(server.apiBase() + "/chat/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            JsonNode reply = JSON.readTree(chat.body());
            assertEquals("42", reply.at("/choices/0/message/content").asText());
            assertEquals(DemoTeacherServer.MODEL, reply.get("model").asText(), "the reply names the demo teacher, whatever was asked for");
            assertEquals(DemoTeacherServer.FINGERPRINT, reply.get("system_fingerprint").asText());
            assertTrue(reply.at("/usage/total_tokens").asInt() > 0);
        }
    }

    @Test
    void scoresAreTenForTheAnswerAndFallWithDistance() {
        assertEquals(10, DemoTeacherServer.score("nedrag", " nedrag\n"));
        assertEquals(8, DemoTeacherServer.score("nedrag", "nedra")); // LCS 5: F = 10/11, 1 + round(7.27)
        assertEquals(9, DemoTeacherServer.score("abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxy")); // 1 + round(7.84), below 10
        assertEquals(1, DemoTeacherServer.score("95", "xyz"));
        assertEquals(5, DemoTeacherServer.score("95", "59")); // LCS 1 of 2 and 2: F = 0.5, 1 + 4
        assertTrue(DemoTeacherServer.score("14/07/2023", "14/07/2032") > DemoTeacherServer.score("14/07/2023", "2023-07-14"));
        assertEquals("5", DemoTeacherServer.reply(ratingPrompt("Give three tips for staying healthy.", "Sleep.")).lines().findFirst().orElseThrow());
    }

    /** AlpacaJob through the job runner gets every demo answer; CompareJob rates a right file 10 and a wrong one lower. */
    @Test
    void theRealJobsGetAnswersAndScores(@TempDir Path dir) throws Exception {
        List<DemoTask> tasks = DemoTasks.generate(16, 11);
        ArrayNode in = JSON.createArrayNode(), wrong = JSON.createArrayNode();
        for (DemoTask t : tasks) {
            // as gpt4llm demo tasks writes them: with the task's own id and category
            in.addObject().put("id", t.id()).put("category", t.category()).put("instruction", t.instruction()).put("input", t.input());
            wrong.addObject().put("instruction", t.instruction()).put("input", t.input()).put("output", t.answer() + "x");
        }
        Path input = dir.resolve("tasks.json"), out = dir.resolve("answers.jsonl"), answers = dir.resolve("teacher.json");
        JSON.writeValue(input.toFile(), in);
        Path wrongFile = dir.resolve("guesser.json");
        JSON.writeValue(wrongFile.toFile(), wrong);
        StringWriter notes = new StringWriter();
        try (DemoTeacherServer server = DemoTeacherServer.start(0); OpenAiTeacher teacher = client(server)) {
            Job alpaca = new AlpacaJob(0.7, 64);
            JobRunner runner = new JobRunner(alpaca, DemoTeacherServer.MODEL, alpaca.read(input), out, new PrintWriter(notes, true));
            RunSummary s = runner.run(teacher, new RunOptions(4, -1, false, 1, true), false);
            assertEquals(16, s.done(), notes.toString());
            runner.export(answers);
            JsonNode got = JSON.readTree(answers.toFile());
            for (int i = 0; i < tasks.size(); i++) {
                assertEquals(tasks.get(i).answer(), got.get(i).get("output").asText());
                assertEquals(tasks.get(i).id(), got.get(i).get("id").asText());
            }

            Job compare = new CompareJob(List.of(answers, wrongFile));
            Path rated = dir.resolve("rated.jsonl"), ratedJson = dir.resolve("rated.json");
            JobRunner ratings = new JobRunner(compare, DemoTeacherServer.MODEL, compare.read(answers), rated, new PrintWriter(notes, true));
            assertEquals(16, ratings.run(teacher, new RunOptions(4, -1, false, 1, true), false).done(), notes.toString());
            ratings.export(ratedJson);
            JsonNode records = JSON.readTree(ratedJson.toFile());
            assertEquals(16, records.size());
            for (int i = 0; i < 16; i++) {
                JsonNode rs = records.get(i).get("responses_and_scores");
                DemoTask t = tasks.get(i);
                assertEquals(t.input().isEmpty() ? t.instruction() : t.instruction() + "\n\n" + t.input(), records.get(i).get("user_input").asText());
                assertEquals("teacher", rs.get(0).get("source").asText());
                assertEquals(10.0, rs.get(0).get("score").asDouble(), rs.toString());
                assertEquals("guesser", rs.get(1).get("source").asText());
                double expected = DemoTeacherServer.score(t.answer(), t.answer() + "x");
                assertEquals(expected, rs.get(1).get("score").asDouble(), rs.toString());
                assertTrue(expected >= 2 && expected <= 9, rs.toString());
            }
        }
    }

    private static String ratingPrompt(String question, String answer) {
        return "[Question]\n" + question + "\n\n[The Start of Assistant's Answer]\n" + answer
                + "\n\n[The End of Assistant's Answer]\n\n[System]\nRate it.\n\n";
    }
}
