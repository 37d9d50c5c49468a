package org.gpt4llm.eval.bestofn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.eval.judge.AnswerSet;
import org.gpt4llm.eval.judge.JudgeFixtures;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;
import org.gpt4llm.eval.judge.JudgeSummary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BestOfNTest {
    @TempDir
    Path dir;

    static final List<Integer> QUESTIONS = List.of(1, 11, 21, 61, 68);

    /** Group k's answers carry "MODEL<k>-ANSWER"; the judge gives top-1 8, top-2 7, top-3 6 (q61 of top-3: 3), the reference 8. */
    static String judge(String prompt) {
        JudgeFixtures.Seen s = JudgeFixtures.seen(prompt);
        int k = Integer.parseInt(s.modelMarker().substring("MODEL".length()));
        double m = k == 3 && s.question() == 61 ? 3 : 9 - k, r = 8;
        return (int) (s.modelFirst() ? m : r) + " " + (int) (s.modelFirst() ? r : m) + "\nexplanation";
    }

    @Test
    void threeRankedGroupsAgainstTheReference() throws Exception {
        Path questions = JudgeFixtures.vicunaQuestions();
        List<Path> groups = List.of(JudgeFixtures.answers(dir, "answers-top1", "MODEL1", QUESTIONS),
                JudgeFixtures.answers(dir, "answers-top2", "MODEL2", QUESTIONS), JudgeFixtures.answers(dir, "answers-top3", "MODEL3", QUESTIONS));
        AnswerSet reference = AnswerSet.read(JudgeFixtures.answers(dir, "gpt-4", "REF", QUESTIONS));
        Path out = dir.resolve("report");
        List<JudgeSummary> sums;
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(BestOfNTest::judge).start();
             OpenAiTeacher teacher = JudgeFixtures.teacher(server.apiBase())) {
            sums = BestOfN.judge(Mode.VICUNA, questions, groups, reference, "gpt-4", out, teacher, new RunOptions(4, -1, false, 3, true),
                    JudgeFixtures.quiet()).stream().map(r -> r.summary()).toList();
            assertEquals(3 * QUESTIONS.size() * 2, server.requestCount());
        }
        // by hand: top-1 5·8 / 5·8; top-2 5·7 / 40; top-3 (4·6 + 3) / 40
        assertEquals(100, sums.get(0).overall().relativeScore(), 1e-9);
        assertEquals(87.5, sums.get(1).overall().relativeScore(), 1e-9);
        assertEquals(100 * 27.0 / 40, sums.get(2).overall().relativeScore(), 1e-9);
        assertEquals(5, sums.get(1).overall().losses());
        assertEquals(5, sums.get(0).overall().ties());

        JsonNode report = new ObjectMapper().readTree(out.resolve("bestofn.json").toFile());
        assertEquals(3, report.get("results").size());
        assertEquals("top-2", report.get("results").get(1).get("label").asText());
        assertEquals(87.5, report.get("results").get(1).get("overall").get("relative_score").asDouble(), 1e-9);
        BufferedImage png = ImageIO.read(out.resolve("bestofn.png").toFile());
        assertTrue(png.getWidth() > 100 && png.getHeight() > 100);
        String md = Files.readString(out.resolve("bestofn.md"));
        assertTrue(md.contains("| top-3 vs gpt-4 | vicuna | 67.5% | 27 : 40 |"), md);

        // existing review files only: the same numbers, no judge needed
        Path again = dir.resolve("again");
        List<JudgeSummary> agg = BestOfN.aggregate(List.of(out.resolve("reviews-top-1.jsonl"), out.resolve("reviews-top-2.jsonl"),
                out.resolve("reviews-top-3.jsonl")), again);
        for (int k = 0; k < 3; k++) assertEquals(sums.get(k), agg.get(k));
        assertEquals(Files.readString(out.resolve("bestofn.md")), Files.readString(again.resolve("bestofn.md")));
    }
}
