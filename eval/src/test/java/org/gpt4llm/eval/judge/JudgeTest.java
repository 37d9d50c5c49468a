package org.gpt4llm.eval.judge;

import static org.gpt4llm.eval.judge.JudgeFixtures.quiet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.eval.judge.JudgeFixtures.Seen;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The judge against a real local HTTP server whose scripted judge answers in every form the prompts allow. */
class JudgeTest {
    @TempDir
    Path dir;

    /** generic 1, 2, 3; coding 61; math 68; writing 71 (the real Vicuna categories). */
    static final List<Integer> QUESTIONS = List.of(1, 2, 3, 61, 68, 71);

    /**
     * The scripted Vicuna judge. By hand, per question (model, reference):
     * q1 (8, 9) "a b"; q2 (7.5, 7) labelled lines; q3 (6, 8) "a, b" model-first, garbage reference-first;
     * q61 (6, 9) "a, b"; q68 (4, 8) a tuple after working; q71 position bias: the first shown gets 9, the second 7.
     */
    static String vicunaJudge(String prompt) {
        Seen s = JudgeFixtures.seen(prompt);
        double m, r;
        switch (s.question()) {
            case 1 -> { m = 8; r = 9; }
            case 2 -> { m = 7.5; r = 7; }
            case 3 -> { m = 6; r = 8; }
            case 61 -> { m = 6; r = 9; }
            case 68 -> { m = 4; r = 8; }
            case 71 -> { m = s.modelFirst() ? 9 : 7; r = s.modelFirst() ? 7 : 9; }
            default -> throw new IllegalStateException("question " + s.question());
        }
        String a = fmt(s.modelFirst() ? m : r), b = fmt(s.modelFirst() ? r : m);
        return switch (s.question()) {
            case 2 -> "Assistant 1: " + a + "\nAssistant 2: " + b + "\nBoth were helpful.";
            case 3 -> s.modelFirst() ? a + ", " + b + "\nreasons" : "I am unable to score these answers.";
            case 61 -> a + ", " + b + "\nThe code of one lacks comments.";
            case 68 -> "Solving it myself: x = 10.\nAssistant 1 ... Assistant 2 ...\n(" + a + ", " + b + ")";
            case 71 -> "**" + a + " " + b + "**\nexplanation";
            default -> a + " " + b + "\nexplanation";
        };
    }

    static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((int) v) : String.valueOf(v);
    }

    record Setup(Path questions, AnswerSet model, AnswerSet reference) {}

    Setup setup() throws Exception {
        return new Setup(JudgeFixtures.vicunaQuestions(), AnswerSet.read(JudgeFixtures.answers(dir, "llama-gpt4", "MODEL", QUESTIONS)),
                AnswerSet.read(JudgeFixtures.answers(dir, "gpt-4", "REF", QUESTIONS)));
    }

    Judge.Result judge(FakeTeacherServer server, Setup s, Mode mode, boolean translate, Path out, int limit, int concurrency) throws Exception {
        return judge(server, s, mode, "gpt-4", out, limit, concurrency, quiet(), translate);
    }

    Judge.Result judge(FakeTeacherServer server, Setup s, Mode mode, String judgeModel, Path out, int limit, int concurrency, PrintWriter err,
                       boolean translate) throws Exception {
        try (OpenAiTeacher teacher = JudgeFixtures.teacher(server.apiBase())) {
            return Judge.run(mode, s.questions(), s.model(), s.reference(), translate, judgeModel, out, teacher,
                    new RunOptions(concurrency, limit, false, 3, true), err);
        }
    }

    static void assertVicunaByHand(JudgeSummary sum) {
        JudgeSummary.Stats o = sum.overall();
        // model 8 + 7.5 + 6 + 6 + 4 + (9+7)/2 = 39.5; reference 9 + 7 + 8 + 9 + 8 + (7+9)/2 = 49
        assertEquals(39.5, o.modelTotal(), 1e-12);
        assertEquals(49, o.referenceTotal(), 1e-12);
        assertEquals(100 * 39.5 / 49, o.relativeScore(), 1e-9);
        assertEquals(6, o.questions());
        assertEquals(1, o.wins()); // q2
        assertEquals(1, o.ties()); // q71: 8 against 8
        assertEquals(4, o.losses());
        assertEquals(12, o.reviews());
        assertEquals(1, o.unparseable()); // q3 reference-first
        assertEquals(1, o.disagreements()); // q71
        JudgeSummary.Stats generic = sum.perCategory().get("generic");
        assertEquals(8 + 7.5 + 6, generic.modelTotal(), 1e-12);
        assertEquals(9 + 7 + 8, generic.referenceTotal(), 1e-12);
        assertEquals(100 * 21.5 / 24, generic.relativeScore(), 1e-9);
        assertEquals(1, generic.unparseable());
        assertEquals(100 * 6.0 / 9, sum.perCategory().get("coding").relativeScore(), 1e-9);
        assertEquals(50, sum.perCategory().get("math").relativeScore(), 1e-9);
        JudgeSummary.Stats writing = sum.perCategory().get("writing");
        assertEquals(100, writing.relativeScore(), 1e-9);
        assertEquals(1, writing.ties());
        assertEquals(1, writing.disagreements());
        assertEquals(Set.of("generic", "coding", "math", "writing"), sum.perCategory().keySet());
    }

    @Test
    void vicunaReviewsBothOrdersMappedBackAndSummedAsThePaper() throws Exception {
        Setup s = setup();
        Path out = dir.resolve("reviews.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::vicunaJudge).start()) {
            Judge.Result r = judge(server, s, Mode.VICUNA, false, out, -1, 4);
            assertEquals(12, server.requestCount());
            assertEquals(12, r.expectedReviews());
            assertVicunaByHand(r.summary());
            assertEquals("llama-gpt4", r.summary().model());
            assertEquals("gpt-4", r.summary().reference());

            // the reviewer is picked by category, with FastChat's prompts
            for (JsonNode body : server.bodies()) {
                String user = body.get("messages").get(1).get("content").asText();
                int q = JudgeFixtures.seen(user).question();
                assertEquals(JudgePrompts.VICUNA_SYSTEM, body.get("messages").get(0).get("content").asText());
                assertEquals(0.2, body.get("temperature").asDouble());
                assertTrue(user.startsWith("[Question]\n"));
                assertTrue(user.endsWith("[System]\n" + (q == 61 ? JudgePrompts.CODING : q == 68 ? JudgePrompts.MATH : JudgePrompts.GENERAL) + "\n\n"));
            }
        }
        Map<String, JsonNode> byItem = new HashMap<>();
        for (JsonNode r : JudgeSummary.readReviews(out)) byItem.put(r.get("key").asText().substring("id:".length()), r);
        assertEquals(12, byItem.size());
        // FastChat review records, in the order shown to the judge
        JsonNode q2m = byItem.get("2/model-first"), q2r = byItem.get("2/reference-first");
        for (String f : List.of("review_id", "question_id", "answer1_id", "answer2_id", "reviewer_id", "text", "score", "metadata")) {
            assertTrue(q2m.has(f), f);
        }
        assertEquals(2, q2m.get("question_id").asInt());
        assertEquals("llama-gpt4-2", q2m.get("answer1_id").asText());
        assertEquals("gpt-4-2", q2m.get("answer2_id").asText());
        assertEquals(7.5, q2m.get("score").get(0).asDouble());
        assertEquals(7, q2m.get("score").get(1).asDouble());
        assertEquals("gpt-4-2", q2r.get("answer1_id").asText());
        assertEquals(7, q2r.get("score").get(0).asDouble());
        assertEquals(7.5, q2r.get("score").get(1).asDouble());
        assertEquals(2, q2r.get("metadata").get("model_position").asInt());
        assertEquals("gpt-4-coding", byItem.get("61/model-first").get("reviewer_id").asText());
        assertEquals("gpt-4-math", byItem.get("68/model-first").get("reviewer_id").asText());
        assertEquals("gpt-4-general", byItem.get("71/model-first").get("reviewer_id").asText());
        // the unreadable answer is kept, marked, and scored as FastChat marks it, not 0
        JsonNode bad = byItem.get("3/reference-first");
        assertFalse(bad.get("metadata").get("parsed").asBoolean());
        assertTrue(bad.get("metadata").get("parse_error").asText().contains("not two scores"));
        assertEquals(-1, bad.get("score").get(0).asDouble());
        assertEquals("I am unable to score these answers.", bad.get("text").asText());
    }

    @Test
    void aRerunSkipsTheReviewsDoneAndSumsTheSame() throws Exception {
        Setup s = setup();
        Path out = dir.resolve("reviews.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::vicunaJudge).start()) {
            Judge.Result first = judge(server, s, Mode.VICUNA, false, out, 5, 2);
            assertEquals(5, first.run().done());
            assertEquals(7, first.run().left());
            assertEquals(5, JudgeSummary.readReviews(out).size());
            Judge.Result second = judge(server, s, Mode.VICUNA, false, out, -1, 3);
            assertEquals(5, second.run().alreadyDone());
            assertEquals(7, second.run().done());
            assertEquals(12, server.requestCount());
            Judge.Result third = judge(server, s, Mode.VICUNA, false, out, -1, 3);
            assertEquals(0, third.run().done());
            assertEquals(12, server.requestCount());
            assertVicunaByHand(third.summary());
        }
        List<JsonNode> reviews = JudgeSummary.readReviews(out);
        Set<String> ids = new HashSet<>();
        for (JsonNode r : reviews) assertTrue(ids.add(r.get("key").asText()), "review " + r.get("key") + " twice");
        assertEquals(12, ids.size());
        // summing the file alone (as bestofn does with existing reviews) gives the same numbers
        assertVicunaByHand(Judge.summarize(List.of(out)).getFirst());
    }

    @Test
    void aChangedAnswerIsJudgedAgainInBothOrdersAndNothingElse() throws Exception {
        Setup s = setup();
        Path out = dir.resolve("reviews.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::vicunaJudge).start()) {
            judge(server, s, Mode.VICUNA, false, out, -1, 4);
            assertEquals(12, server.requestCount());

            // the model's answer to question 2 generated again
            Path regenerated = dir.resolve("regenerated.jsonl");
            Files.writeString(regenerated, Files.readString(s.model().file()).replace("MODEL-ANSWER q=2 end.", "MODEL-ANSWER q=2 end, said again."));
            Setup changed = new Setup(s.questions(), AnswerSet.read(regenerated), s.reference());
            Judge.Result r = judge(server, changed, Mode.VICUNA, false, out, -1, 4);
            assertEquals(14, server.requestCount(), "the two orders of question 2");
            List<Seen> asked = server.bodies().subList(12, 14).stream()
                    .map(b -> JudgeFixtures.seen(b.get("messages").get(1).get("content").asText())).toList();
            assertEquals(List.of(2, 2), List.of(asked.get(0).question(), asked.get(1).question()));
            assertTrue(asked.get(0).modelFirst() != asked.get(1).modelFirst());
            assertEquals(List.of(10, 2, 2, 2), List.of(r.run().alreadyDone(), r.run().fresh(), r.run().stale(), r.run().done()));
            assertVicunaByHand(r.summary());
            assertEquals(14, Files.readAllLines(out).size(), "the first reviews of question 2 stay in the file");
            // summing the file alone takes the newest review of each question and order
            assertVicunaByHand(Judge.summarize(List.of(out)).getFirst());

            // question 3 no longer answered: its reviews are not summed, nothing is asked
            List<Integer> without3 = List.of(1, 2, 61, 68, 71);
            Files.createDirectories(dir.resolve("without3"));
            Path m = JudgeFixtures.answers(dir.resolve("without3"), "llama-gpt4", "MODEL", without3);
            Files.writeString(m, Files.readString(regenerated).lines().filter(l -> !l.contains("q=3 ")).reduce("", (x, y) -> x + y + "\n"));
            Setup fewer = new Setup(s.questions(), AnswerSet.read(m),
                    AnswerSet.read(JudgeFixtures.answers(dir.resolve("without3"), "gpt-4", "REF", without3)));
            Judge.Result five = judge(server, fewer, Mode.VICUNA, false, out, -1, 4);
            assertEquals(14, server.requestCount());
            assertEquals(5, five.summary().overall().questions());
            assertEquals(10, five.summary().overall().reviews());
            assertEquals(0, five.summary().overall().unparseable(), "question 3's unreadable review is not counted");
        }
    }

    @Test
    void reviewsOfAnotherModeOrJudgeAreRefusedInOneSentence() throws Exception {
        Setup s = setup();
        Path out = dir.resolve("reviews.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::vicunaJudge).start()) {
            judge(server, s, Mode.VICUNA, false, out, 2, 1);
            IllegalArgumentException mode = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> judge(server, s, Mode.PAIRWISE, false, out, -1, 1));
            assertEquals(out + " holds answers made with mode \"vicuna\", not \"pairwise\" as this run asks; give another --out"
                    + " (answers of different mode are never mixed in one file)", mode.getMessage());
            IllegalArgumentException judgeModel = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> judge(server, s, Mode.VICUNA, "gpt-3.5-turbo", out, -1, 1, quiet(), false));
            assertEquals(out + " holds answers made with model \"gpt-4\", not \"gpt-3.5-turbo\" as this run asks; give another --out"
                    + " (answers of different model are never mixed in one file)", judgeModel.getMessage());
            IllegalArgumentException translated = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> judge(server, s, Mode.VICUNA, true, out, -1, 1));
            assertTrue(translated.getMessage().startsWith(out + " holds answers made with translate false, not true"), translated.getMessage());
            assertEquals(2, server.requestCount());
            assertEquals(2, Files.readAllLines(out).size());
        }
    }

    /** Reviews as the version before keys wrote them: {"id": "<question>/<order>", ...review}. */
    @Test
    void reviewsOfAnEarlierVersionAreReadByTheirIdWithAWarning() throws Exception {
        Setup s = setup();
        Path out = dir.resolve("reviews.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::vicunaJudge).start()) {
            judge(server, s, Mode.VICUNA, false, out, -1, 4);
            StringBuilder legacy = new StringBuilder();
            for (String line : Files.readAllLines(out)) {
                com.fasterxml.jackson.databind.node.ObjectNode review = (com.fasterxml.jackson.databind.node.ObjectNode) JudgeJob.JSON.readTree(line);
                String id = review.remove("key").asText().substring("id:".length());
                review.remove(List.of("content_key", "settings"));
                com.fasterxml.jackson.databind.node.ObjectNode old = JudgeJob.JSON.createObjectNode().put("id", id);
                legacy.append(JudgeJob.JSON.writeValueAsString(old.setAll(review))).append('\n');
            }
            Files.writeString(out, legacy);
            java.io.StringWriter notes = new java.io.StringWriter();
            Judge.Result r = judge(server, s, Mode.VICUNA, "gpt-4", out, -1, 4, new PrintWriter(notes, true), false);
            assertEquals(12, server.requestCount(), "nothing collected is asked again");
            assertTrue(notes.toString().contains(out + " holds 12 lines of an earlier version, without keys"), notes.toString());
            assertVicunaByHand(r.summary());
        }
    }

    /** q1: the model wins in both orders; q2: always [[A]] (position bias); q3: [[C]]; q61: garbage; q68: the reference wins. */
    static String pairwiseJudge(String prompt) {
        Seen s = JudgeFixtures.seen(prompt);
        String modelLetter = s.modelFirst() ? "A" : "B", refLetter = s.modelFirst() ? "B" : "A";
        return switch (s.question()) {
            case 1 -> "The first is thorough.\n[[" + modelLetter + "]]";
            case 2 -> "I prefer the first one. [[A]]";
            case 3 -> "Equally good. [[C]]";
            case 61 -> "Both answers are fine, it depends.";
            case 68 -> "Final verdict: [[" + refLetter + "]]";
            case 71 -> "Hmm [[A]], no wait, [[B]]";
            default -> throw new IllegalStateException();
        };
    }

    @Test
    void pairwiseVerdictsInBothOrders() throws Exception {
        Setup s = setup();
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::pairwiseJudge).start()) {
            JudgeSummary sum = judge(server, s, Mode.PAIRWISE, false, dir.resolve("pair.jsonl"), -1, 4).summary();
            assertEquals(JudgePrompts.PAIR_SYSTEM, server.bodies().getFirst().get("messages").get(0).get("content").asText());
            JudgeSummary.Stats o = sum.overall();
            assertEquals(4, o.questions()); // q61 and q71 have no readable verdict
            assertEquals(1, o.wins());
            assertEquals(2, o.ties()); // q2 (the orders disagree) and q3
            assertEquals(1, o.losses());
            assertEquals(1, o.disagreements());
            assertEquals(4, o.unparseable());
            assertEquals(2, o.modelTotal(), 1e-12); // 1 + 0.5 + 0.5 + 0
            assertTrue(Double.isNaN(o.relativeScore()));
        }
    }

    /** Ratings: the model q*1 % 10 ..., here: model 6 and reference 8 everywhere, q3's reference rating unreadable. */
    static String singleJudge(String prompt) {
        Seen s = JudgeFixtures.seen(prompt);
        if (s.question() == 3 && !s.hasModel()) return "A fine answer, I would say seven.";
        return "Short explanation.\nRating: [[" + (s.hasModel() ? (s.question() == 2 ? "9.5" : "6") : "8") + "]]";
    }

    @Test
    void singleAnswerGrading() throws Exception {
        Setup s = setup();
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(JudgeTest::singleJudge).start()) {
            JudgeSummary sum = judge(server, s, Mode.SINGLE, false, dir.resolve("single.jsonl"), -1, 4).summary();
            assertEquals(12, server.requestCount());
            for (JsonNode b : server.bodies()) {
                String user = b.get("messages").get(1).get("content").asText();
                Seen seen = JudgeFixtures.seen(user);
                assertTrue(seen.hasModel() ^ seen.hasReference(), "one answer per request");
                assertTrue(user.startsWith(JudgePrompts.SINGLE_INSTRUCTION));
            }
            JudgeSummary.Stats o = sum.overall();
            // q3 drops out (its reference rating is unreadable): model 9.5 + 6·4 = 33.5, reference 8·5 = 40
            assertEquals(5, o.questions());
            assertEquals(33.5, o.modelTotal(), 1e-12);
            assertEquals(40, o.referenceTotal(), 1e-12);
            assertEquals(100 * 33.5 / 40, o.relativeScore(), 1e-9);
            assertEquals(1, o.wins());
            assertEquals(4, o.losses());
            assertEquals(1, o.unparseable());
        }
    }

    @Test
    void theChineseSettingTranslatesFirstThenJudgesTheTranslations() throws Exception {
        Setup s = setup();
        Function<String, String> script = prompt -> prompt.startsWith(JudgePrompts.TRANSLATE)
                ? "中文：" + prompt.substring(JudgePrompts.TRANSLATE.length())
                : vicunaJudge(prompt);
        Path out = dir.resolve("zh.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(script).start()) {
            Judge.Result r = judge(server, s, Mode.VICUNA, true, out, -1, 1);
            // three translations per question (the question, both answers), once for both orders, then two reviews
            assertEquals(6 * 3 + 12, server.requestCount());
            List<String> kinds = new ArrayList<>();
            Map<Integer, Integer> translated = new HashMap<>();
            for (JsonNode b : server.bodies()) {
                JsonNode msgs = b.get("messages");
                String user = msgs.get(msgs.size() - 1).get("content").asText();
                if (user.startsWith(JudgePrompts.TRANSLATE)) {
                    kinds.add("t");
                    if (JudgeFixtures.seen(user).question() > 0) translated.merge(JudgeFixtures.seen(user).question(), 1, Integer::sum);
                } else {
                    kinds.add("j");
                    int q = JudgeFixtures.seen(user).question();
                    assertEquals(2, translated.getOrDefault(q, 0), "question " + q + " judged before both answers were translated");
                    assertTrue(user.contains("中文："), "the judge sees the translations");
                }
            }
            assertEquals(List.of("t", "t", "t", "j", "j"), kinds.subList(0, 5));
            assertVicunaByHand(r.summary());
        }
        JsonNode review = JudgeSummary.readReviews(out).getFirst();
        assertTrue(review.get("metadata").get("translation").get("question").asText().startsWith("中文："));
    }

    @Test
    void aResumedChineseRunReusesTheTranslationsItsReviewsHold() throws Exception {
        Setup s = setup();
        Function<String, String> script = prompt -> prompt.startsWith(JudgePrompts.TRANSLATE)
                ? "中文：" + prompt.substring(JudgePrompts.TRANSLATE.length())
                : vicunaJudge(prompt);
        Path out = dir.resolve("zh.jsonl");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(script).start()) {
            judge(server, s, Mode.VICUNA, true, out, 1, 1); // question 1 translated, one order judged
            assertEquals(3 + 1, server.requestCount());
            Judge.Result r = judge(server, s, Mode.VICUNA, true, out, -1, 2);
            // question 1's other order is judged on the translations kept in its first review
            assertEquals(6 * 3 + 12, server.requestCount());
            assertVicunaByHand(r.summary());
        }
    }

    @Test
    void answersToUnknownQuestionsAndTheSameModelTwiceAreNamed() throws Exception {
        Setup s = setup();
        AnswerSet stray = AnswerSet.read(JudgeFixtures.answers(dir, "stray", "MODEL", List.of(1, 999)));
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new JudgeJob(Mode.VICUNA, stray, s.reference(), false, "gpt-4").read(s.questions()));
        assertTrue(e.getMessage().contains("question_id 999"), e.getMessage());
        Exception same = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Judge.run(Mode.VICUNA, s.questions(), s.reference(), s.reference(), false, "gpt-4", dir.resolve("x.jsonl"), null,
                        RunOptions.defaults(), quiet()));
        assertTrue(same.getMessage().contains("both answers of gpt-4"));
        Files.writeString(dir.resolve("broken.jsonl"), "{\"question_id\": 1, \"score\": [1, 2], \"metadata\": {}}\nnot json\n{\"question_id\": 2}\n");
        Exception broken = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> JudgeSummary.readReviews(dir.resolve("broken.jsonl")));
        assertTrue(broken.getMessage().contains("broken.jsonl:2"), broken.getMessage());
        // a run killed mid-line leaves a partial last line: left out, the lines before it read
        Path killed = Files.writeString(dir.resolve("killed.jsonl"), "{\"question_id\": 1, \"score\": [1, 2], \"metadata\": {}}\n{\"question_id\": 2, \"sco");
        assertEquals(1, JudgeSummary.readReviews(killed).size());
        // an original FastChat review does not say which answer is whose: named, not guessed
        Path foreign = Files.writeString(dir.resolve("fastchat.jsonl"), "{\"review_id\": \"r1\", \"question_id\": 1, \"answer1_id\": \"a\","
                + " \"answer2_id\": \"b\", \"reviewer_id\": 1, \"metadata\": {}, \"text\": \"8 9\", \"score\": [8, 9]}\n");
        Exception notOurs = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Judge.summarize(List.of(foreign)));
        assertTrue(notOurs.getMessage().startsWith(foreign + ": review r1 of question 1 does not say which answer is the model's"), notOurs.getMessage());
    }
}
