package org.gpt4llm.datagen.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CompareJobTest {
    @TempDir
    Path dir;

    @Test
    void parsesEveryScoreFormat() {
        Map<String, Double> cases = Map.ofEntries(
                Map.entry("8", 8.0),
                Map.entry("8.5\nThe answer is accurate.", 8.5),
                Map.entry("Score: 8\nGood.", 8.0),
                Map.entry("8/10", 8.0),
                Map.entry("10/10\nPerfect.", 10.0),
                Map.entry("**8**\nClear and detailed.", 8.0),
                Map.entry("Rating: 7 out of 10\nMostly right.", 7.0),
                Map.entry("\n\n  9\nThorough.", 9.0),
                Map.entry("Assistant 1: 6", 6.0),
                Map.entry("**Score:** 4.5 / 10", 4.5),
                Map.entry("1", 1.0));
        cases.forEach((answer, score) -> assertEquals(score, CompareJob.parseScore(answer), answer));
    }

    @Test
    void rejectsAnswersWithoutAUsableScore() {
        for (String[] c : new String[][] {
                {"", "empty"},
                {"   \n  ", "empty"},
                {"The answer is helpful.\n8", "no score"},
                {"11\nToo high.", "outside 1-10"},
                {"0", "outside 1-10"},
                {"-3", "outside 1-10"},
                {"7 8", "more than one number"},
                {"Score: 8 or 9", "more than one number"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CompareJob.parseScore(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
        }
    }

    /** Three Alpaca-format answer files in different orders, one lacking an instruction, joined and rated. */
    @Test
    void joinsAlpacaFilesAndRatesEachAnswer() throws Exception {
        Path gpt4 = write("gpt4.json", """
                [{"instruction": "Name a color.", "input": "", "output": "Blue."},
                 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
                 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "Five."}]""");
        Path davinci = write("text-davinci-003.json", """
                [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "It is 5."},
                 {"instruction": "Name a color.", "input": "", "output": "Red is a color."}]""");
        Path opt = write("icm-1.3b.json", """
                [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "23"},
                 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "6"}]""");
        CompareJob job = new CompareJob(List.of(gpt4, davinci, opt));
        List<Item> items = job.read(gpt4);
        assertEquals(3, items.size());
        assertEquals(List.of("0", "1", "2"), items.stream().map(Item::id).toList());
        assertEquals("Add the numbers.\n\n2 and 3", items.get(1).source().get("user_input").asText());
        assertEquals(2, job.preview(items.get(0)).size()); // "Name a color." has no icm-1.3b answer

        Map<String, Double> scores = Map.of("Blue.", 9.0, "Red is a color.", 7.5, "5", 10.0, "It is 5.", 8.0,
                "23", 1.0, "Five.", 9.5, "6", 2.0);
        List<ChatRequest> asked = Collections.synchronizedList(new ArrayList<>());
        Teacher judge = request -> {
            asked.add(request);
            String prompt = request.messages().getLast().content();
            String answer = prompt.substring(prompt.indexOf("Answer]\n") + 8, prompt.indexOf("\n\n[The End"));
            return new ChatResponse("Score: " + scores.get(answer) + "\nBecause.", "stop", 100, 20, 1);
        };
        List<ObjectNode> records = new ArrayList<>();
        for (Item item : items) records.add(job.run(item, judge));
        assertEquals(7, asked.size());
        String prompt = asked.getFirst().messages().getLast().content();
        assertTrue(prompt.startsWith("[Question]\nName a color.\n\n[The Start of Assistant's Answer]\nBlue.\n\n"
                + "[The End of Assistant's Answer]\n\n[System]\nWe would like to request your feedback"), prompt);
        assertEquals("system", asked.getFirst().messages().getFirst().role());

        ObjectNode second = records.get(1);
        assertEquals(List.of("user_input", "responses_and_scores"), fieldNames(second));
        JsonNode rs = second.get("responses_and_scores");
        assertEquals(3, rs.size());
        assertEquals(List.of("response", "score", "source"), fieldNames(rs.get(0)));
        assertEquals("5", rs.get(0).get("response").asText());
        assertEquals(10.0, rs.get(0).get("score").asDouble());
        assertEquals("gpt4", rs.get(0).get("source").asText());
        assertEquals("It is 5.", rs.get(1).get("response").asText());
        assertEquals("text-davinci-003", rs.get(1).get("source").asText());
        assertEquals("icm-1.3b", rs.get(2).get("source").asText());
        // the repeated instruction pairs the second answer of each file
        JsonNode third = records.get(2).get("responses_and_scores");
        assertEquals(List.of("Five.", "6"), List.of(third.get(0).get("response").asText(), third.get(1).get("response").asText()));

        records.get(0).put("id", "0");
        JsonNode exported = job.export(records);
        assertEquals(3, exported.size());
        assertEquals(List.of("user_input", "responses_and_scores"), fieldNames(exported.get(0)));
        assertEquals(7.5, exported.get(0).get("responses_and_scores").get(1).get("score").asDouble());
    }

    /** FastChat answer files (both record shapes) joined through a Vicuna question file by question id. */
    @Test
    void joinsFastChatAnswersThroughTheQuestionFile() throws Exception {
        Path questions = write("question.jsonl", """
                {"question_id": 1, "text": "How can I improve my time management skills?", "category": "generic"}
                {"question_id": 2, "text": "What are the main differences between Python and JavaScript?", "category": "coding"}
                """);
        Path a = write("answer_a.jsonl", """
                {"question_id": 2, "answer_id": "x", "model_id": "llama-gpt4-7b", "text": "Typing and runtime."}
                {"question_id": 1, "answer_id": "y", "model_id": "llama-gpt4-7b", "text": "Plan your day."}
                """);
        Path b = write("answer_b.jsonl", """
                {"question_id": 1, "answer_id": "z", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["Use a calendar."]}]}
                {"question_id": 2, "answer_id": "w", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["Python is dynamic."]}]}
                """);
        CompareJob job = new CompareJob(List.of(a, b));
        List<Item> items = job.read(questions);
        assertEquals(List.of("1", "2"), items.stream().map(Item::id).toList());
        ObjectNode r = job.run(items.get(0), req -> new ChatResponse("7\nok", "stop", 1, 1, 1));
        assertEquals("How can I improve my time management skills?", r.get("user_input").asText());
        JsonNode rs = r.get("responses_and_scores");
        assertEquals("Plan your day.", rs.get(0).get("response").asText());
        assertEquals("llama-gpt4-7b", rs.get(0).get("source").asText());
        assertEquals("Use a calendar.", rs.get(1).get("response").asText());
        assertEquals("gpt-4", rs.get(1).get("source").asText());

        IllegalArgumentException noText = assertThrows(IllegalArgumentException.class, () -> job.read(a));
        assertTrue(noText.getMessage().contains("give the question file as the input"), noText.getMessage());
        IllegalArgumentException notQuestions = assertThrows(IllegalArgumentException.class, () -> new CompareJob(List.of(b)).read(a));
        assertTrue(notQuestions.getMessage().startsWith(a + ":1 is an answer, not a question"), notQuestions.getMessage());
        Path other = write("other_questions.jsonl", "{\"question_id\": 1, \"text\": \"Only one.\"}\n");
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> job.read(other));
        assertTrue(unknown.getMessage().contains("question_id 2"), unknown.getMessage());
    }

    @Test
    void alpacaQuestionsWithIdsOfTheirOwnJoinAnswersByThem() throws Exception {
        Path questions = write("tasks.json", """
                [{"id": "demo-1-0", "instruction": "Spell the word backwards.", "input": "tent"},
                 {"id": "demo-1-1", "instruction": "Add the two numbers.", "input": "1, 2"},
                 {"instruction": "Name a color."}]""");
        Path a = write("a.jsonl", """
                {"question_id": "demo-1-1", "model_id": "m", "text": "3"}
                {"question_id": 2, "model_id": "m", "text": "Blue."}
                """);
        List<Item> items = new CompareJob(List.of(a)).read(questions);
        assertEquals(List.of("demo-1-1", "2"), items.stream().map(Item::id).toList(), "own ids, else the index");
        assertEquals("Add the two numbers.\n\n1, 2", items.getFirst().source().get("user_input").asText());
    }

    @Test
    void anUnusableRatingNamesTheItemAndModel() throws Exception {
        Path a = write("alpaca.json", "[{\"instruction\": \"Name a color.\", \"input\": \"\", \"output\": \"Blue.\"}]");
        CompareJob job = new CompareJob(List.of(a));
        Item item = job.read(a).getFirst();
        TeacherException e = assertThrows(TeacherException.class,
                () -> job.run(item, req -> new ChatResponse("I cannot rate this answer.", "stop", 1, 1, 1)));
        assertTrue(e.getMessage().contains("item 0, answer of alpaca: the judge's first line holds no score"), e.getMessage());
    }

    @Test
    void badAnswerFilesAreNamed() throws IOException {
        Path a = write("m.json", "[{\"instruction\": \"Name a color.\", \"output\": \"Blue.\"}]");
        Path sub = Files.createDirectories(dir.resolve("sub"));
        Path b = Files.writeString(sub.resolve("m.json"), "[{\"instruction\": \"Name a color.\", \"output\": \"Red.\"}]");
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> new CompareJob(List.of(a, b)).read(a));
        assertTrue(twice.getMessage().contains("both hold answers of m"), twice.getMessage());
        Path bad = write("bad.json", "[{\"instruction\": \"Name a color.\"}]");
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> new CompareJob(List.of(bad)).read(bad));
        assertTrue(shape.getMessage().startsWith(bad + ": record 0 is not an answer"), shape.getMessage());
        Path broken = write("broken.jsonl", "{\"question_id\": 1, \"text\": \"x\"}\n{\"question_id\": 2,\n");
        IOException json = assertThrows(IOException.class, () -> new CompareJob(List.of(broken)).read(broken));
        assertTrue(json.getMessage().startsWith(broken + ":2 is not valid JSON"), json.getMessage());
    }

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
