package org.gpt4llm.datagen.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.datagen.job.InstructionsJob.Discard;
import org.gpt4llm.datagen.job.InstructionsJob.Parsed;
import org.gpt4llm.datagen.job.InstructionsJob.Task;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.gpt4llm.datagen.text.Rouge;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InstructionsJobTest {
    @TempDir
    Path dir;

    static String answer() throws IOException {
        try (InputStream in = InstructionsJobTest.class.getResourceAsStream("generation_answer.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void parsesARealisticTwentyTaskAnswer() throws IOException {
        Parsed p = InstructionsJob.parse(answer(), false);
        assertEquals(20, p.tasks().size());
        assertEquals(0, p.malformed());
        assertFalse(p.truncated());
        Task first = p.tasks().getFirst();
        assertEquals("Rewrite the following sentence in the passive voice.", first.instruction());
        assertEquals("The committee approved the new budget after a long debate.", first.input());
        assertEquals("The new budget was approved by the committee after a long debate.", first.output());
        assertEquals("", p.tasks().get(1).input()); // <noinput>
        assertEquals("Silent flakes descend\nthe sleeping garden turns white\nfootprints not yet made", p.tasks().get(10).output());
        assertEquals("Odd, because its last digit, 7, is not divisible by 2.", p.tasks().getLast().output());

        Parsed cut = InstructionsJob.parse(answer(), true);
        assertEquals(19, cut.tasks().size());
        assertTrue(cut.truncated());
        assertEquals("Translate the phrase into French.", cut.tasks().getLast().instruction());
    }

    @Test
    void parsesMarkdownHeadersAndCountsMalformedBlocks() {
        String text = """
                **4. Instruction:** Outline the steps to change a flat tire.
                **4. Input:** <noinput>
                **4. Output:** Loosen the nuts, jack up the car, swap the tire, tighten the nuts.

                ###
                5. Instruction: Name the capital city of the country given below.
                5. Output:
                Canberra
                ###
                6) Instruction: Recommend a novel for someone who loved a mystery series.
                6) Input: They enjoyed the Sherlock Holmes stories.
                6) Output: The Moonstone by Wilkie Collins.
                ###
                8. Instruction: Which language is used to build most Unity games?
                8. Input: <noinput>
                8. Output: C#
                ###   
                ###
                7. Output: stray output without its instruction
                """;
        Parsed p = InstructionsJob.parse(text, false);
        assertEquals(List.of(new Task("Outline the steps to change a flat tire.", "",
                        "Loosen the nuts, jack up the car, swap the tire, tighten the nuts."),
                new Task("Recommend a novel for someone who loved a mystery series.", "They enjoyed the Sherlock Holmes stories.",
                        "The Moonstone by Wilkie Collins."),
                new Task("Which language is used to build most Unity games?", "", "C#")), p.tasks());
        assertEquals(2, p.malformed()); // task 5 lacks its input; the stray output
        assertEquals(0, InstructionsJob.parse("I'm sorry, I can't help with that.", false).tasks().size());
    }

    @Test
    void eachFilterDropsWhatAlpacaDrops() {
        String fourWords = "Name four prime numbers.";
        assertNull(InstructionsJob.filter(fourWords));
        assertEquals(Discard.LENGTH, InstructionsJob.filter("List three fruits."));
        assertNull(InstructionsJob.filter("Summarize this." + " word".repeat(148))); // 150 words
        assertEquals(Discard.LENGTH, InstructionsJob.filter("Summarize this." + " word".repeat(149)));
        for (String banned : List.of("Describe the image in detail.", "Explain what these IMAGES have in common.",
                "Read the file and count lines.", "Draw a cat using only letters.", "Tell me how to go to the station.",
                "Compose some music for a birthday.", "Create a flowchart for a login process.", "Plot the data you are given.",
                "Describe a map of your neighborhood.", "Summarize the video transcript below.")) {
            assertEquals(Discard.BLACKLIST, InstructionsJob.filter(banned), banned);
        }
        assertNull(InstructionsJob.filter("Explain the mapping between the two sets.")); // whole words only
        assertNull(InstructionsJob.filter("Write a profile of a famous chef."));
        assertEquals(Discard.WRITE_A_PROGRAM, InstructionsJob.filter("Write a program that reverses a string."));
        assertNull(InstructionsJob.filter("Write a poem about the sea in spring.")); // only the exact start
        assertEquals(Discard.PUNCTUATION, InstructionsJob.filter("\"Rewrite this quote in plain words.\""));
        assertEquals(Discard.PUNCTUATION, InstructionsJob.filter("(a) Pick the best answer below."));
        assertEquals(Discard.NON_ASCII, InstructionsJob.filter("¿Cuál es la capital de Francia?"));
        assertEquals(Discard.NON_ASCII, InstructionsJob.filter("Écris une phrase sur la mer."));
    }

    @Test
    void roundsAskForTwentyTasksWithThreeSampledExamplesAndKeepWhatPasses() throws Exception {
        InstructionsJob job = new InstructionsJob(4, 7);
        List<Item> items = job.read(seeds(10));
        assertEquals(List.of("0", "1", "2", "3"), items.stream().map(Item::id).toList());
        ChatRequest preview = job.preview(items.get(2)).getFirst();
        String prompt = preview.messages().getFirst().content();
        assertTrue(prompt.contains("come up with 20 new"), prompt);
        assertTrue(prompt.contains("Write tasks 4 to 23"), prompt);
        assertTrue(prompt.contains("###\n3. Instruction: "), prompt);
        assertFalse(prompt.contains("4. Instruction:"), prompt);
        assertEquals(3, items.get(2).source().get("examples").size());
        // the same seed and round sample the same examples, on any instance
        List<Item> again = new InstructionsJob(4, 7).read(seeds(10));
        assertEquals(items.get(2).source(), again.get(2).source());

        String answer = answer();
        ObjectNode record = job.run(items.get(0), req -> new ChatResponse(answer, "stop", 900, 1500, 1));
        assertEquals(List.of("round", "instructions", "discarded"), CompareJobTest.fieldNames(record));
        assertEquals(0, record.get("round").asInt());
        assertEquals(17, record.get("instructions").size());
        assertEquals(List.of("instruction", "input", "output"), CompareJobTest.fieldNames(record.get("instructions").get(0)));
        JsonNode discarded = record.get("discarded");
        assertEquals(List.of("length", "blacklist", "write_a_program"), CompareJobTest.fieldNames(discarded));
        assertEquals(1, discarded.get("blacklist").asInt());

        // the same answer in the next round is all near-duplicates of what round 0 kept
        ObjectNode repeat = job.run(items.get(1), req -> new ChatResponse(answer, "length", 900, 3072, 1));
        assertEquals(0, repeat.get("instructions").size());
        assertEquals(16, repeat.get("discarded").get("similar").asInt());
        assertEquals(1, repeat.get("discarded").get("truncated").asInt());

        TeacherException e = assertThrows(TeacherException.class,
                () -> job.run(items.get(3), req -> new ChatResponse("Sure, here you go!", "stop", 1, 1, 1)));
        assertTrue(e.getMessage().startsWith("round 3: the answer holds no complete numbered"), e.getMessage());
        assertEquals(17, job.export(List.of(record, repeat)).size());
    }

    /** Rounds on 8 threads draw from a pool of near-duplicates: no two kept instructions are similar, in the records or the export. */
    @Test
    void deduplicatesAcrossConcurrentRounds() throws Exception {
        int rounds = 32;
        Teacher teacher = request -> {
            Random random = TestSeeds.random();
            StringBuilder sb = new StringBuilder();
            for (int k = 4; k < 24; k++) {
                sb.append("###\n").append(k).append(". Instruction: ").append(nearDuplicate(random)).append('\n')
                        .append(k).append(". Input:\n<noinput>\n").append(k).append(". Output:\nSome answer.\n");
            }
            return new ChatResponse(sb.toString(), "stop", 900, 1500, 1);
        };
        Path seedFile = seeds(5);
        InstructionsJob job = new InstructionsJob(rounds, 1);
        List<ObjectNode> records = runAll(job, job.read(seedFile), teacher);
        List<String> kept = new ArrayList<>();
        int similar = 0;
        for (ObjectNode r : records) {
            r.get("instructions").forEach(t -> kept.add(t.get("instruction").asText()));
            similar += JsonChecks.integer(r.get("discarded"), "similar");
        }
        assertEquals(rounds * 20, kept.size() + similar);
        assertTrue(kept.size() > 5 && similar > rounds * 10, kept.size() + " kept, " + similar + " similar");
        List<String> all = new ArrayList<>(kept);
        for (int i = 0; i < 5; i++) all.add(seedInstruction(i));
        assertNoSimilarPair(all);
        assertEquals(kept.size(), job.export(records).size());

        // a resumed run does not know what the first kept; the export drops the repeats
        InstructionsJob resumed = new InstructionsJob(rounds, 2);
        List<ObjectNode> more = runAll(resumed, resumed.read(seedFile), teacher);
        List<ObjectNode> both = new ArrayList<>(records);
        both.addAll(more);
        JsonNode exported = resumed.export(both);
        List<String> exportedText = new ArrayList<>();
        exported.forEach(t -> exportedText.add(t.get("instruction").asText()));
        assertTrue(exportedText.size() < kept.size() + more.stream().mapToInt(r -> r.get("instructions").size()).sum());
        assertEquals(kept, exportedText.subList(0, kept.size()));
        assertNoSimilarPair(exportedText);
    }

    @Test
    void seedFilesAreReadInBothFormats() throws IOException {
        Path alpaca = Files.writeString(dir.resolve("alpaca.json"), """
                [{"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well."},
                 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
                 {"instruction": "Name a color that is warm.", "input": "", "output": "Red."}]""");
        List<Item> items = new InstructionsJob(2, 0).read(alpaca);
        assertEquals(2, items.size());
        Path two = Files.writeString(dir.resolve("two.jsonl"), "{\"instruction\": \"a\", \"instances\": [{\"input\": \"\", \"output\": \"b\"}]}\n"
                + "{\"instruction\": \"c\", \"instances\": [{\"input\": \"\", \"output\": \"d\"}]}\n");
        IllegalArgumentException few = assertThrows(IllegalArgumentException.class, () -> new InstructionsJob(2, 0).read(two));
        assertEquals(two + " holds 2 seed tasks; a prompt needs 3", few.getMessage());
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), "{\"instructions\": \"x\"}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new InstructionsJob(2, 0).read(bad));
        assertEquals(bad + ":1 is not a seed task: it has no instruction", e.getMessage());
    }

    private static List<ObjectNode> runAll(InstructionsJob job, List<Item> items, Teacher teacher) throws Exception {
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<ObjectNode>> futures = new ArrayList<>();
            for (Item item : items) futures.add(pool.submit(() -> job.run(item, teacher)));
            List<ObjectNode> out = new ArrayList<>();
            for (Future<ObjectNode> f : futures) out.add(f.get());
            return out;
        }
    }

    private static void assertNoSimilarPair(List<String> instructions) {
        for (int i = 0; i < instructions.size(); i++) {
            for (int j = i + 1; j < instructions.size(); j++) {
                double f = Rouge.score(instructions.get(i), instructions.get(j), false).rougeL().fmeasure();
                assertTrue(f <= 0.7, instructions.get(i) + " / " + instructions.get(j) + ": ROUGE-L " + f);
            }
        }
    }

    private static final String[] VERBS = {"Summarize", "Explain", "Describe", "Analyze"};
    private static final String[] TOPICS = {"why leaves change color autumn", "how vaccines train immune systems",
            "what causes ocean tides daily", "where volcanoes usually form underground", "when ancient Rome finally fell",
            "how stock prices get set", "why sleep improves memory retention", "how bridges carry heavy loads"};
    private static final String[] AUDIENCES = {"for a curious child", "to a new student", "for a busy executive",
            "to a visiting tourist"};

    /** Instructions from one template: the same topic and audience make a near-duplicate (ROUGE-L 0.9), others do not. */
    private static String nearDuplicate(Random random) {
        return VERBS[random.nextInt(VERBS.length)] + " " + TOPICS[random.nextInt(TOPICS.length)] + " "
                + AUDIENCES[random.nextInt(AUDIENCES.length)] + ".";
    }

    private static String seedInstruction(int i) {
        return "Seed task " + i + " asks something about " + TOPICS[i % TOPICS.length] + " and nothing more.";
    }

    private Path seeds(int n) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            ObjectNode task = JsonRecords.JSON.createObjectNode();
            task.put("id", "seed_task_" + i).put("name", "t" + i).put("instruction", seedInstruction(i));
            task.putArray("instances").addObject().put("input", i % 2 == 0 ? "" : "input " + i).put("output", "output " + i);
            task.put("is_classification", false);
            sb.append(task).append('\n');
        }
        return Files.writeString(dir.resolve("seed_tasks.jsonl"), sb.toString());
    }
}
