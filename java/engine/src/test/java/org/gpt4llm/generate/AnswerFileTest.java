package org.gpt4llm.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.datagen.run.RunSettings;
import org.gpt4llm.generate.Questions.Question;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Answer files resumed by key: a killed write dropped, other settings refused, files without ids
 * re-ordered and edited (answers follow their questions), one answer for questions that ask the same,
 * best-of-n group files cut back to the main file, and records of earlier versions continued.
 */
class AnswerFileTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final List<String> notes = new ArrayList<>();

    private RunSettings settings(String modelId, int maxNewTokens) {
        return AnswerSettings.of(modelId, dir, null, "alpaca", SamplingParams.greedy(maxNewTokens), 0);
    }

    /** Alpaca records without ids, as JSONL. */
    private List<Question> alpaca(String name, List<String> instructions) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String i : instructions) sb.append(JSON.writeValueAsString(Map.of("instruction", i, "input", ""))).append('\n');
        return Questions.read(Files.writeString(dir.resolve(name), sb));
    }

    private List<Question> vicuna(String name, int count) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= count; i++) sb.append("{\"question_id\": ").append(i).append(", \"text\": \"Question ").append(i).append("?\"}\n");
        return Questions.read(Files.writeString(dir.resolve(name), sb));
    }

    /** Answers every question of {@code questions} not answered yet: its text is "answer to <instruction>". */
    private Set<String> answerAll(Path file, RunSettings s, List<Question> questions) throws IOException {
        try (AnswerFile a = AnswerFile.open(file, s, questions, notes::add)) {
            Set<String> before = new HashSet<>(a.done());
            Map<String, Question> todo = new java.util.LinkedHashMap<>();
            for (Question q : questions) if (!before.contains(q.key())) todo.putIfAbsent(q.key(), q);
            List<ObjectNode> records = new ArrayList<>();
            for (Question q : todo.values()) records.add(a.newRecord(q, "answer to " + q.instruction()));
            a.write(records);
            Set<String> made = new HashSet<>();
            for (Question q : todo.values()) made.add(q.instruction());
            return made;
        }
    }

    private static List<JsonNode> records(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(file)) out.add(JSON.readTree(l));
        return out;
    }

    /** question_id → text of every record, checking each question_id appears once. */
    private static Map<String, String> byId(Path file) throws IOException {
        Map<String, String> m = new HashMap<>();
        for (JsonNode r : records(file)) {
            String prev = m.put(JsonChecks.text(r, "question_id"), JsonChecks.text(r, "text"));
            assertEquals(null, prev, "question_id " + JsonChecks.text(r, "question_id") + " answered twice in " + file);
        }
        return m;
    }

    @Test
    void aKilledWriteIsDroppedAndAppendingGoesOn() throws Exception {
        Path f = dir.resolve("sub/answers.jsonl");
        List<Question> qs = vicuna("q.jsonl", 3);
        RunSettings s = settings("m", 12);
        try (AnswerFile a = AnswerFile.open(f, s, qs, notes::add)) {
            assertEquals(Set.of(), a.done(), "a new file holds nothing");
            a.write(List.of(a.newRecord(qs.get(0), "one"), a.newRecord(qs.get(1), "two \"quoted\"\nlines")));
        }
        Files.writeString(f, "{\"question_id\": 3, \"te", StandardOpenOption.APPEND);
        try (AnswerFile a = AnswerFile.open(f, s, qs, notes::add)) {
            assertEquals(Set.of("id:1", "id:2"), a.done());
            a.write(List.of(a.newRecord(qs.get(2), "three")));
            assertEquals(Set.of("id:1", "id:2", "id:3"), a.done());
        }
        List<JsonNode> recs = records(f);
        assertEquals(3, recs.size());
        assertEquals("two \"quoted\"\nlines", JsonChecks.text(recs.get(1), "text"));
        assertEquals(3, JsonChecks.integer(recs.get(2), "question_id"));
        JsonNode meta = JsonChecks.required(recs.get(2), "metadata");
        assertEquals("id:3", JsonChecks.text(meta, "key"));
        assertEquals(s.values(), JsonChecks.required(meta, "settings"), "every record says what made it");
        assertEquals("m", JsonChecks.text(recs.get(2), "model_id"));
        assertEquals(List.of(), notes);

        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, Files.readAllLines(f).getFirst() + "\nnot json\n" + Files.readAllLines(f).get(1) + "\n");
        IOException e = assertThrows(IOException.class, () -> AnswerFile.open(bad, s, qs, notes::add));
        assertEquals(bad + ":2 is not an answer record; fix or remove the line to resume", e.getMessage());
    }

    @Test
    void answersOfAnotherModelOrOtherSettingsAreRefusedNeverMixed() throws Exception {
        Path f = dir.resolve("answers.jsonl");
        List<Question> qs = vicuna("q.jsonl", 4);
        answerAll(f, settings("llama-7b", 12), qs.subList(0, 2));
        String before = Files.readString(f);
        IllegalArgumentException model = assertThrows(IllegalArgumentException.class,
                () -> AnswerFile.open(f, settings("alpaca-7b", 12), qs, notes::add));
        assertEquals(f + " holds answers made with model_id \"llama-7b\", not \"alpaca-7b\" as this run asks; give another --out"
                + " (answers of different model_id are never mixed in one file)", model.getMessage());
        IllegalArgumentException tokens = assertThrows(IllegalArgumentException.class,
                () -> AnswerFile.open(f, settings("llama-7b", 0), qs, notes::add));
        assertTrue(tokens.getMessage().startsWith(f + " holds answers made with max_new_tokens 12, not 0"), tokens.getMessage());
        RunSettings sampled = AnswerSettings.of("llama-7b", dir, null, "alpaca",
                new SamplingParams(12, 0.7f, 0, 1f, 1f, List.of(), true, 0), 0);
        IllegalArgumentException temperature = assertThrows(IllegalArgumentException.class, () -> AnswerFile.open(f, sampled, qs, notes::add));
        assertTrue(temperature.getMessage().contains("temperature 0.0, not 0.7"), temperature.getMessage());
        RunSettings other = AnswerSettings.of("llama-7b", dir.resolve("elsewhere"), null, "alpaca", SamplingParams.greedy(12), 0);
        IllegalArgumentException folder = assertThrows(IllegalArgumentException.class, () -> AnswerFile.open(f, other, qs, notes::add));
        assertTrue(folder.getMessage().contains("with model \"" + dir.toRealPath() + "\", not \"" + dir.resolve("elsewhere")), folder.getMessage());
        RunSettings best = AnswerSettings.reranked(settings("llama-7b", 12), 4, dir, "alpaca", 512);
        IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> AnswerFile.open(f, best, qs, notes::add));
        assertTrue(n.getMessage().contains("made with n 1, not 4"), n.getMessage());
        assertEquals(before, Files.readString(f), "a refused file is left as it was");

        // the same settings written anew (floats, longs) compare equal to those read back: the rest is answered
        assertEquals(Set.of("Question 3?", "Question 4?"), answerAll(f, settings("llama-7b", 12), qs));
        assertEquals(4, byId(f).size());
    }

    @Test
    void answersFollowTheirQuestionsThroughAFileWithoutIds() throws Exception {
        Path f = dir.resolve("answers.jsonl");
        RunSettings s = settings("m", 12);
        List<String> first = List.of("Add 2 and 3.", "Name a colour.", "Spell cat.", "Count to 3.", "Say hi.");
        assertEquals(Set.copyOf(first), answerAll(f, s, alpaca("v1.jsonl", first)));
        // shuffled, with two questions inserted and one left out
        List<String> second = new ArrayList<>(first.subList(0, 4));
        second.add("Name a fruit.");
        second.add("Name a tree.");
        Collections.shuffle(second, TestSeeds.random());
        List<Question> v2 = alpaca("v2.jsonl", second);
        assertEquals(Set.of("Name a fruit.", "Name a tree."), answerAll(f, s, v2), "only the new questions are answered");
        Map<String, String> answers = byId(f);
        assertEquals(second.size(), answers.size(), "one answer per question: " + answers);
        for (int i = 0; i < second.size(); i++) assertEquals("answer to " + second.get(i), answers.get(String.valueOf(i)), "question " + i);
        Path aside = dir.resolve("answers.jsonl.unmatched.jsonl");
        assertEquals(List.of("answer to Say hi."), records(aside).stream().map(r -> JsonChecks.text(r, "text")).toList(),
                "the answer to the question left out is moved aside, not lost");
        assertTrue(notes.stream().anyMatch(n -> n.startsWith(f + ": 1 answer to questions no longer asked (or answered twice) moved to " + aside)), notes.toString());

        // back to the first file: "Say hi." is asked again, and answered again (its old answer is aside)
        try (AnswerFile a = AnswerFile.open(f, s, alpaca("v1.jsonl", first), notes::add)) {
            assertEquals(4, a.done().size());
            assertEquals(2, a.unmatched(), "the two inserted questions' answers");
        }
        assertEquals(Set.of("answer to Say hi.", "answer to Name a fruit.", "answer to Name a tree."),
                Set.copyOf(records(aside).stream().map(r -> JsonChecks.text(r, "text")).toList()), "moved aside in their turn");
        assertEquals(4, byId(f).size());
    }

    @Test
    void questionsThatAskTheSameShareOneAnswer() throws Exception {
        Path f = dir.resolve("answers.jsonl");
        RunSettings s = settings("m", 12);
        List<Question> qs = alpaca("q.jsonl", List.of("Say hi.", "Add 2 and 3.", "Say hi."));
        assertEquals(List.of(dir.resolve("q.jsonl") + ": the questions of lines 1 and 3 ask the same (instruction and input, no ids): answered once,"
                + " the answer written for each"), Questions.sameContent(dir.resolve("q.jsonl"), qs));
        assertEquals(Set.of("Say hi.", "Add 2 and 3."), answerAll(f, s, qs));
        List<JsonNode> recs = records(f);
        assertEquals(Map.of("0", "answer to Say hi.", "1", "answer to Add 2 and 3.", "2", "answer to Say hi."), byId(f));
        assertEquals(JsonChecks.text(recs.get(0), "answer_id"), JsonChecks.text(recs.get(1), "answer_id"), "one answer, written twice");
        String written = Files.readString(f);
        assertEquals(Set.of(), answerAll(f, s, qs));
        assertEquals(written, Files.readString(f), "a file in order is not rewritten");

        // a file where the question is asked once more: the answer is copied, not made again
        List<Question> more = alpaca("more.jsonl", List.of("Say hi.", "Add 2 and 3.", "Say hi.", "Say hi."));
        assertEquals(Set.of(), answerAll(f, s, more));
        assertEquals("answer to Say hi.", byId(f).get("3"));
    }

    @Test
    void aGroupFileIsCutBackToWhatTheMainFileFinishedAndRepeatsAreMovedAside() throws Exception {
        List<Question> qs = vicuna("q.jsonl", 3);
        RunSettings s = AnswerSettings.reranked(settings("m", 12), 2, dir, "alpaca", 64);
        Path g = dir.resolve("best-top1.jsonl");
        try (AnswerFile a = AnswerFile.open(g, s, qs, notes::add)) {
            a.write(List.of(a.newRecord(qs.get(0), "one"), a.newRecord(qs.get(1), "two"), a.newRecord(qs.get(2), "three")));
            a.write(List.of(a.newRecord(qs.get(0), "one again")));
        }
        try (AnswerFile a = AnswerFile.openGroup(g, s, qs, Set.of("id:1", "id:3"), notes::add)) {
            assertEquals(Set.of("id:1", "id:3"), a.done());
            assertEquals(1, a.unmatched(), "a second answer to question 1");
        }
        assertEquals(Map.of("1", "one", "3", "three"), byId(g), "question 2's answer was of a batch the main file never finished");
        assertEquals(List.of("one again"), records(dir.resolve("best-top1.jsonl.unmatched.jsonl")).stream()
                .map(r -> JsonChecks.text(r, "text")).toList());
    }

    @Test
    void answersOfEarlierVersionsAreContinuedWithAWarning() throws Exception {
        Path f = dir.resolve("legacy.jsonl");
        List<Question> qs = vicuna("q.jsonl", 3);
        String legacy = """
                {"question_id":1,"answer_id":"a1","model_id":"m","text":"old one","metadata":{"template":"alpaca","temperature":0.0,"top_p":1.0,"top_k":0,"repetition_penalty":1.0,"max_new_tokens":12,"stop":[],"seed":5,"finish_reason":"length","tokens":12,"prompt_tokens":30},"tstamp":1795610870.765}
                {"question_id":2,"answer_id":"a2","model_id":"m","text":"old two","metadata":{"template":"alpaca","temperature":0.0,"top_p":1.0,"top_k":0,"repetition_penalty":1.0,"max_new_tokens":12,"stop":[],"seed":6,"finish_reason":"stop","tokens":3,"prompt_tokens":31},"tstamp":1795610871.5}
                """;
        Files.writeString(f, legacy);
        IllegalArgumentException other = assertThrows(IllegalArgumentException.class, () -> AnswerFile.open(f, settings("m", 40), qs, notes::add));
        assertTrue(other.getMessage().contains("max_new_tokens 12, not 40"), "what an old record says of its settings is checked: " + other.getMessage());
        assertEquals(Set.of("Question 3?"), answerAll(f, settings("m", 12), qs));
        assertEquals(List.of("warning: " + f + " holds 2 answers written before answers recorded their question's key and run settings:"
                + " they are matched by question_id and continued as this run's"), notes);
        List<JsonNode> recs = records(f);
        assertEquals(List.of("old one", "old two", "answer to Question 3?"), recs.stream().map(r -> JsonChecks.text(r, "text")).toList());
        JsonNode meta = JsonChecks.required(recs.get(0), "metadata");
        assertEquals("id:1", JsonChecks.text(meta, "key"), "an old record gets its question's key");
        assertEquals(5, JsonChecks.integer(meta, "seed"));
        assertTrue(Files.readAllLines(f).get(1).contains("\"tstamp\":1795610871.5"), "numbers kept as written: " + Files.readAllLines(f).get(1));
        notes.clear();
        assertEquals(Set.of(), answerAll(f, settings("m", 12), qs));
        assertEquals(List.of(), notes, "warned once: the records carry their key and settings now");
        assertFalse(Files.exists(dir.resolve("legacy.jsonl.unmatched.jsonl")));
    }
}
