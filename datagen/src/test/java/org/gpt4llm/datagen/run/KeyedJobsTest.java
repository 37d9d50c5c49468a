package org.gpt4llm.datagen.run;

import static org.gpt4llm.datagen.run.Doubles.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.gpt4llm.datagen.job.CompareJob;
import org.gpt4llm.datagen.job.InstructionsJob;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.job.TranslateJob;
import org.gpt4llm.datagen.job.UnnaturalJob;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.TeacherOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The other jobs resume by what their requests hold, over real HTTP: translate (instruction and
 * input), unnatural (instruction and input; the data set's answer is not asked), compare (the
 * question and every answer rated) and instructions (a round's number and examples). Each change asks
 * exactly the new items, and the export equals a from-scratch run's.
 */
class KeyedJobsTest {
    private static final String[] WORDS = {"river", "candle", "orbit", "meadow", "lantern", "copper", "harbor", "thistle",
            "glacier", "saddle", "pepper", "violin", "canyon", "marble", "falcon", "tunnel", "walnut", "ember", "quarry", "velvet",
            "anchor", "bamboo", "cactus", "dolphin", "eclipse", "fossil", "granite", "hammock", "iceberg", "jasmine"};

    @TempDir
    Path dir;

    private FakeTeacherServer server;
    private OpenAiTeacher teacher;

    /** A deterministic teacher for every job's prompts: a translation, a score, generated tasks, or an answer. */
    static String answer(String prompt) {
        try {
            if (prompt.startsWith("Translate the instruction and the input")) {
                JsonNode task = JSON.readTree(prompt.substring(prompt.indexOf('{')));
                return JSON.writeValueAsString(Map.of("instruction", "中文：" + task.get("instruction").asText(), "input",
                        task.get("input").asText()));
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        if (prompt.startsWith("[Question]")) return (1 + Math.floorMod(prompt.hashCode(), 10)) + "\nreasons";
        if (prompt.startsWith("You are asked to come up with")) {
            SplittableRandom rnd = new SplittableRandom(prompt.hashCode());
            StringBuilder sb = new StringBuilder();
            for (int k = 4; k <= 5; k++) {
                StringBuilder instruction = new StringBuilder("Describe");
                for (int w = 0; w < 7; w++) instruction.append(' ').append(WORDS[rnd.nextInt(WORDS.length)]);
                sb.append(k).append(". Instruction: ").append(instruction).append(".\n").append(k).append(". Input:\n<noinput>\n")
                        .append(k).append(". Output:\nIt is fine.\n###\n");
            }
            return sb.toString();
        }
        return Doubles.answer(prompt);
    }

    @BeforeEach
    void start() throws Exception {
        server = new FakeTeacherServer(0).answer(KeyedJobsTest::answer).start();
        teacher = new OpenAiTeacher(TeacherOptions.defaults("teacher").withKey("GPT4LLM_TEST_NO_KEY", v -> null)
                .withTimeout(Duration.ofSeconds(10)).withRetries(2, Duration.ofMillis(5), Duration.ofMillis(20)).withApiBase(server.apiBase()));
    }

    @AfterEach
    void stop() {
        teacher.close();
        server.close();
    }

    /** Runs {@code job} over {@code input} into {@code out}; the prompts the server was asked. */
    private List<String> run(Job job, Path input, Path out) throws Exception {
        int before = server.requestCount();
        StringWriter notes = new StringWriter();
        RunSummary s = new JobRunner(job, "teacher", job.read(input), out, new PrintWriter(notes, true))
                .run(teacher, new RunOptions(1, -1, false, 3, true), false);
        assertTrue(s.complete(), s.describe(job.name()) + notes);
        List<String> prompts = new ArrayList<>();
        for (JsonNode b : server.bodies().subList(before, server.requestCount())) {
            JsonNode m = b.get("messages");
            prompts.add(m.get(m.size() - 1).get("content").asText());
        }
        return prompts;
    }

    private JsonNode export(Job job, Path input, Path out) throws Exception {
        Path file = out.resolveSibling(out.getFileName() + ".json");
        assertEquals(0, new JobRunner(job, "teacher", job.read(input), out, new PrintWriter(new StringWriter())).export(file));
        return JSON.readTree(file.toFile());
    }

    /** The export of a from-scratch run of {@code job} on {@code input}. */
    private JsonNode fresh(Job job, Path input) throws Exception {
        Path out = Files.createTempFile(dir, "fresh", ".jsonl");
        Files.delete(out);
        run(job, input, out);
        return export(job, input, out);
    }

    @Test
    void translateAsksOnlyAnInsertedRecord() throws Exception {
        Job job = new TranslateJob();
        String base = """
                {"instruction": "Name a color.", "input": ""}
                {"instruction": "Add the numbers.", "input": "2 and 3"}
                {"instruction": "Reverse the word.", "input": "tent"}
                """;
        Path in = Files.writeString(dir.resolve("in.jsonl"), base), out = dir.resolve("zh.jsonl");
        assertEquals(6, run(job, in, out).size(), "a translation and an answer per record");
        Path inserted = Files.writeString(dir.resolve("inserted.jsonl"), "{\"instruction\": \"Name a river.\", \"input\": \"\"}\n" + base);
        List<String> asked = run(job, inserted, out);
        assertEquals(2, asked.size(), asked.toString());
        assertTrue(asked.get(0).contains("\"instruction\" : \"Name a river.\""), asked.get(0));
        assertTrue(asked.get(1).contains("中文：Name a river."), asked.get(1));
        assertEquals(fresh(job, inserted), export(job, inserted, out));
    }

    @Test
    void unnaturalTakesAChangedReferenceAnswerWithoutAsking() throws Exception {
        Job job = new UnnaturalJob(0.0, 64);
        String base = """
                {"instruction": "Sort the numbers.", "input": "3, 1, 2", "output": "1, 2, 3"}
                {"instruction": "Name the capital.", "input": "France", "output": "Paris"}
                """;
        Path in = Files.writeString(dir.resolve("in.jsonl"), base), out = dir.resolve("un.jsonl");
        assertEquals(2, run(job, in, out).size());
        Path changed = Files.writeString(dir.resolve("changed.jsonl"), base.replace("\"Paris\"", "\"Paris, France\""));
        assertEquals(List.of(), run(job, changed, out), "the data set's own answer is not part of the request");
        JsonNode exported = export(job, changed, out);
        assertEquals("Paris, France", exported.get(1).get("reference_output").asText());
        assertEquals(fresh(job, changed), exported);
    }

    @Test
    void compareRatesAgainOnlyTheQuestionWhoseAnswerChanged() throws Exception {
        Path questions = Files.writeString(dir.resolve("questions.json"), """
                [{"instruction": "Name a color.", "input": ""},
                 {"instruction": "Add the numbers.", "input": "2 and 3"},
                 {"instruction": "Reverse the word.", "input": "tent"}]""");
        String answersA = """
                [{"instruction": "Name a color.", "input": "", "output": "Blue."},
                 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
                 {"instruction": "Reverse the word.", "input": "tent", "output": "tnet"}]""";
        Path a = Files.writeString(dir.resolve("a.json"), answersA);
        Path b = Files.writeString(dir.resolve("b.json"), answersA.replace("\"5\"", "\"6\"").replace("Blue.", "Red."));
        Job job = new CompareJob(List.of(a, b));
        Path out = dir.resolve("compare.jsonl");
        assertEquals(6, run(job, questions, out).size(), "two answers rated per question");

        Files.writeString(b, Files.readString(b).replace("\"6\"", "\"five\""));
        List<String> asked = run(job, questions, out);
        assertEquals(2, asked.size(), "both answers of the question whose answer changed: " + asked);
        for (String p : asked) assertTrue(p.startsWith("[Question]\nAdd the numbers.\n\n2 and 3"), p);
        assertEquals(fresh(job, questions), export(job, questions, out));

        Path reordered = Files.writeString(dir.resolve("reordered.json"), """
                [{"instruction": "Reverse the word.", "input": "tent"},
                 {"instruction": "Name a color.", "input": ""},
                 {"instruction": "Add the numbers.", "input": "2 and 3"}]""");
        assertEquals(List.of(), run(job, reordered, out));
        JsonNode exported = export(job, reordered, out);
        assertEquals("Reverse the word.\n\ntent", exported.get(0).get("user_input").asText());
        assertEquals(fresh(job, reordered), exported);
    }

    @Test
    void instructionsAsksOnlyTheNewRounds() throws Exception {
        StringBuilder seeds = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            seeds.append(JSON.writeValueAsString(Map.of("instruction", "Explain the seed idea number " + WORDS[i] + " in detail.",
                    "instances", List.of(Map.of("input", "", "output", "An explanation.")))) ).append('\n');
        }
        Path in = Files.writeString(dir.resolve("seeds.jsonl"), seeds), out = dir.resolve("new.jsonl");
        assertEquals(3, run(new InstructionsJob(3, 5), in, out).size());
        List<String> asked = run(new InstructionsJob(5, 5), in, out);
        assertEquals(2, asked.size(), "rounds 3 and 4");
        Job five = new InstructionsJob(5, 5);
        List<String> all = five.read(in).stream().map(it -> five.preview(it).getFirst().messages().getLast().content()).toList();
        assertEquals(all.subList(3, 5), asked);
        assertEquals(fresh(new InstructionsJob(5, 5), in), export(new InstructionsJob(5, 5), in, out));
        assertEquals(5, run(new InstructionsJob(5, 6), in, out).size(), "another seed shows other examples: all new");
    }
}
