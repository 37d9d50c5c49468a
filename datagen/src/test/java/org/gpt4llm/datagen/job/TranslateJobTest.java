package org.gpt4llm.datagen.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TranslateJobTest {
    @TempDir
    Path dir;

    @Test
    void parsesTheTranslationInEveryWrapping() {
        String[] expected = {"将下列数字相加。", "2 和 3"};
        assertArrayEquals(expected, TranslateJob.parseTranslation("{\"instruction\": \"将下列数字相加。\", \"input\": \"2 和 3\"}", true));
        assertArrayEquals(expected, TranslateJob.parseTranslation(
                "Here is the translation:\n```json\n{\n  \"instruction\": \"将下列数字相加。\",\n  \"input\": \"2 和 3\"\n}\n```\nLet me know if you need more.", true));
        assertArrayEquals(expected, TranslateJob.parseTranslation("```\n{\"instruction\": \" 将下列数字相加。 \", \"input\": \"2 和 3\"}```", true));
        assertArrayEquals(expected, TranslateJob.parseTranslation(
                "Sure! {\"instruction\": \"将下列数字相加。\", \"input\": \"2 和 3\"} I kept the numbers as they are.", true));
        // no input in the source: whatever the model wrote for it is dropped
        assertArrayEquals(new String[] {"说出一种颜色。", ""},
                TranslateJob.parseTranslation("{\"instruction\": \"说出一种颜色。\", \"input\": \"无\"}", false));
        assertArrayEquals(new String[] {"说出一种颜色。", ""}, TranslateJob.parseTranslation("{\"instruction\": \"说出一种颜色。\"}", false));
    }

    @Test
    void rejectsUnusableTranslations() {
        for (String[] c : new String[][] {
                {"将下列数字相加。", "no JSON object"},
                {"{\"instruction\": \"将下列数字相加。\", \"input\": ", "no JSON object"},
                {"{\"input\": \"2 和 3\"}", "no \"instruction\""},
                {"{\"instruction\": \"将下列数字相加。\"}", "no \"input\""},
                {"{\"instruction\": \"Add the numbers.\", \"input\": \"2 and 3\"}", "not translated to Chinese"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TranslateJob.parseTranslation(c[0], true), c[0]);
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
        }
    }

    /** The translator gets the English task, the teacher the Chinese one in Alpaca's prompt. */
    @Test
    void translatesWithOneModelAndAnswersWithTheOther() throws Exception {
        Path input = Files.writeString(dir.resolve("alpaca.json"), """
                [{"instruction": "Name a color.", "input": "", "output": "Blue."},
                 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"}]""");
        List<ChatRequest> translations = Collections.synchronizedList(new ArrayList<>());
        List<ChatRequest> answers = Collections.synchronizedList(new ArrayList<>());
        Teacher translator = request -> {
            translations.add(request);
            String prompt = request.messages().getLast().content();
            String json = prompt.contains("Name a color.") ? "{\"instruction\": \"说出一种颜色。\", \"input\": \"\"}"
                    : "{\"instruction\": \"将下列数字相加。\", \"input\": \"2 和 3\"}";
            return new ChatResponse("```json\n" + json + "\n```", "stop", 50, 20, 1);
        };
        Teacher teacher = request -> {
            answers.add(request);
            String prompt = request.messages().getLast().content();
            return new ChatResponse(prompt.contains("颜色") ? "蓝色。" : "2 加 3 等于 5。", "stop", 50, 10, 1);
        };
        TranslateJob job = new TranslateJob(translator, "translator");
        List<Item> items = job.read(input);
        assertEquals(2, items.size());
        assertEquals(0, translations.size());
        List<ChatRequest> preview = job.preview(items.get(1));
        assertEquals(1, preview.size());
        assertTrue(preview.getFirst().messages().getLast().content().contains("\"input\" : \"2 and 3\""));

        List<ObjectNode> records = new ArrayList<>();
        for (Item item : items) records.add(job.run(item, teacher));
        assertEquals(2, translations.size());
        assertEquals(2, answers.size());
        String answerPrompt = answers.get(1).messages().getLast().content();
        assertEquals(AlpacaPrompt.of("将下列数字相加。", "2 和 3"), answerPrompt);
        assertTrue(answerPrompt.contains("### Input:\n2 和 3\n\n### Response:"), answerPrompt);
        assertEquals(AlpacaPrompt.of("说出一种颜色。", ""), answers.get(0).messages().getLast().content());
        assertEquals(TranslateJob.ANSWER_IN_CHINESE, answers.get(0).messages().getFirst().content());

        assertEquals(List.of("instruction", "input", "output"), CompareJobTest.fieldNames(records.get(1)));
        assertEquals("将下列数字相加。", records.get(1).get("instruction").asText());
        assertEquals("2 和 3", records.get(1).get("input").asText());
        assertEquals("2 加 3 等于 5。", records.get(1).get("output").asText());
        records.get(0).put("id", "0");
        JsonNode exported = job.export(records);
        assertEquals(List.of("instruction", "input", "output"), CompareJobTest.fieldNames(exported.get(0)));
        assertEquals("蓝色。", exported.get(0).get("output").asText());
    }

    @Test
    void withoutATranslatorTheTeacherDoesBoth() throws Exception {
        Path input = Files.writeString(dir.resolve("one.jsonl"), "{\"instruction\": \"Name a color.\", \"input\": \"\", \"output\": \"Blue.\"}\n");
        List<ChatRequest> asked = new ArrayList<>();
        Teacher teacher = request -> {
            asked.add(request);
            return new ChatResponse(asked.size() == 1 ? "{\"instruction\": \"说出一种颜色。\", \"input\": \"\"}" : "红色。", "stop", 1, 1, 1);
        };
        TranslateJob job = new TranslateJob();
        ObjectNode r = job.run(job.read(input).getFirst(), teacher);
        assertEquals(2, asked.size());
        assertEquals("红色。", r.get("output").asText());
    }

    @Test
    void untranslatedOrCutOffAnswersFailTheRecord() throws Exception {
        Path input = Files.writeString(dir.resolve("one.json"), "[{\"instruction\": \"Name a color.\", \"input\": \"\", \"output\": \"Blue.\"}]");
        TranslateJob job = new TranslateJob();
        Item item = job.read(input).getFirst();
        TeacherException english = assertThrows(TeacherException.class,
                () -> job.run(item, req -> new ChatResponse("{\"instruction\": \"Name a color.\"}", "stop", 1, 1, 1)));
        assertTrue(english.getMessage().startsWith("record 0: the instruction was not translated to Chinese"), english.getMessage());
        Teacher cutOff = req -> req.messages().size() == 1 ? new ChatResponse("{\"instruction\": \"说出一种颜色。\"}", "stop", 1, 1, 1)
                : new ChatResponse("红色是", "length", 1, 2048, 1);
        TeacherException cut = assertThrows(TeacherException.class, () -> job.run(item, cutOff));
        assertTrue(cut.getMessage().contains("cut off"), cut.getMessage());
        Path bad = Files.writeString(dir.resolve("bad.json"), "[{\"input\": \"x\"}]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> job.read(bad));
        assertEquals(bad + ": record 0 has no instruction", e.getMessage());
    }
}
