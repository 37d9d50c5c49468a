package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.AlpacaPrompt;
import org.gpt4llm.datagen.run.JobRunner;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm datagen}: its jobs, a dry run on the real Alpaca-GPT4 sample, and bad flags and files as one sentence. */
class DatagenCommandTest {
    @Test
    void listsItsJobs() {
        CliRun r = CliRun.of("datagen", "--help");
        assertEquals(0, r.code(), r.err());
        for (DatagenCommand.JobKind k : DatagenCommand.JOBS) assertTrue(r.out().contains(k.name()), r.out());
        assertTrue(CliRun.of("--help").out().contains("datagen"));
    }

    @Test
    void dryRunPrintsTheAlpacaPromptOfTheFirstInstructionsAndWritesNothing(@TempDir Path dir) throws Exception {
        Path data = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        Path out = dir.resolve("answers.jsonl");
        CliRun r = CliRun.of("datagen", "alpaca", "--in", data.toString(), "--out", out.toString(), "--dry-run", "--max-tokens", "300");
        assertEquals(0, r.code(), r.err());
        JsonNode first = new ObjectMapper().readTree(data.toFile()).get(0);
        String prompt = AlpacaPrompt.of(first.get("instruction").asText(), first.get("input").asText());
        // the sample asks 14 requests twice (the same instruction and input): each is asked once
        assertTrue(r.out().contains("alpaca: 999 items, 0 already done, 985 to do (999 new)"), r.out());
        assertTrue(r.err().contains(" ask the same (no id of their own, the same content): asked once, the answer exported at each"), r.err());
        assertTrue(r.out().contains(new ObjectMapper().writeValueAsString(prompt)), r.out());
        assertTrue(r.out().contains("\"max_tokens\" : 300"), r.out());
        assertFalse(Files.exists(out));
    }

    @Test
    void badFlagsAndFilesAreOneSentence(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.json");
        Path out = dir.resolve("o.jsonl");
        CliRun r = CliRun.of("datagen", "unnatural", "--in", missing.toString(), "--out", out.toString(), "--dry-run");
        assertEquals(2, r.code());
        assertEquals("gpt4llm datagen unnatural: " + missing + " does not exist or is not a file", r.err().strip());

        Path bad = Files.writeString(dir.resolve("bad.json"), "[{\"instruction\": \"a\", \"input\": \"\"}, {\"input\": \"b\"}]");
        r = CliRun.of("datagen", "alpaca", "--in", bad.toString(), "--out", out.toString(), "--dry-run");
        assertEquals(2, r.code());
        assertEquals("gpt4llm datagen alpaca: " + bad + ": record 1 has no \"instruction\"", r.err().strip());

        r = CliRun.of("datagen", "alpaca", "--in", bad.toString(), "--out", out.toString(), "--concurrency", "0");
        assertEquals(2, r.code());
        assertEquals("gpt4llm datagen alpaca: --concurrency must be at least 1, got 0", r.err().strip());
    }

    @Test
    void limitZeroOnlyExportsWhatTheOutputHasInInputOrder(@TempDir Path dir) throws Exception {
        Path data = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        Path out = dir.resolve("answers.jsonl");
        // the settings the command line's defaults give: --model gpt-4, --temperature 0.7, --max-tokens 1024
        AlpacaJob job = new AlpacaJob(0.7, 1024);
        JobRunner runner = new JobRunner(job, "gpt-4", job.read(data), out, new PrintWriter(new StringWriter()));
        runner.run(request -> new ChatResponse("answer of " + request.messages().getFirst().content().length(), "stop", 1, 1, 1),
                RunOptions.defaults().withLimit(25), false);
        Path export = dir.resolve("alpaca_gpt4_data.json");
        CliRun r = CliRun.of("datagen", "alpaca", "--in", data.toString(), "--out", out.toString(), "--limit", "0", "--export", export.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("exported 25 of 999 records to " + export + " (974 not done yet)", r.out().strip());
        JsonNode input = new ObjectMapper().readTree(data.toFile());
        JsonNode released = new ObjectMapper().readTree(export.toFile());
        assertEquals(25, released.size());
        for (int i = 0; i < 25; i++) {
            JsonNode in = input.get(i), rec = released.get(i);
            assertEquals(List.of("instruction", "input", "output"), fieldNames(rec));
            assertEquals(in.get("instruction"), rec.get("instruction"));
            assertEquals(in.get("input"), rec.get("input"));
            assertEquals("answer of " + AlpacaPrompt.of(in.get("instruction").asText(), in.get("input").asText()).length(), rec.get("output").asText());
        }
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> l = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(l::add);
        return l;
    }

    @Test
    void compareRatesFastChatAnswersInTheOrderOfAQuestionFile(@TempDir Path dir) throws Exception {
        Path questions = Files.writeString(dir.resolve("questions.json"), """
                [{"instruction": "Reverse the letters of the word.", "input": "apple"},
                 {"instruction": "Add the two numbers.", "input": "2, 3"},
                 {"instruction": "Spell the word backwards.", "input": "river"}]""");
        // FastChat answers as gpt4llm generate writes them: question ids are the Alpaca records' indexes
        Path a = Files.writeString(dir.resolve("a.jsonl"), """
                {"question_id": 0, "model_id": "right", "text": "elppa"}
                {"question_id": 1, "model_id": "right", "text": "5"}
                """);
        Path b = Files.writeString(dir.resolve("b.jsonl"), """
                {"question_id": 1, "model_id": "wrong", "text": "7"}
                {"question_id": 0, "model_id": "wrong", "text": "apple"}
                """);
        Path out = dir.resolve("compare.jsonl"), export = dir.resolve("compare.json");
        try (org.gpt4llm.datagen.demo.DemoTeacherServer teacher = org.gpt4llm.datagen.demo.DemoTeacherServer.start(0)) {
            CliRun r = CliRun.of("datagen", "compare", "--questions", questions.toString(), "--in", a.toString(), "--in", b.toString(),
                    "--out", out.toString(), "--export", export.toString(), "--api-base", teacher.apiBase(),
                    "--model", org.gpt4llm.datagen.demo.DemoTeacherServer.MODEL, "--quiet");
            assertEquals(0, r.code(), r.err());
        }
        JsonNode records = new ObjectMapper().readTree(export.toFile());
        assertEquals(2, records.size(), "question 2 has no answer and is left out");
        assertEquals("Reverse the letters of the word.\n\napple", records.get(0).get("user_input").asText());
        JsonNode first = records.get(0).get("responses_and_scores");
        assertEquals("right", first.get(0).get("source").asText());
        assertEquals(10.0, first.get(0).get("score").asDouble());
        assertEquals("wrong", first.get(1).get("source").asText());
        assertTrue(first.get(1).get("score").asDouble() < 10, first.toString());
        assertEquals("Add the two numbers.\n\n2, 3", records.get(1).get("user_input").asText());

        CliRun r = CliRun.of("datagen", "alpaca", "--questions", questions.toString(), "--in", questions.toString(),
                "--out", dir.resolve("x.jsonl").toString(), "--dry-run");
        assertEquals(2, r.code());
        assertEquals("gpt4llm datagen alpaca: --questions is for datagen compare, not alpaca", r.err().strip());
    }
}
