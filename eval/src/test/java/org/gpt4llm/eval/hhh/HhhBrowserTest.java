package org.gpt4llm.eval.hhh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.eval.testing.HeadlessChrome;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HHH page in headless Chromium: votes cast by clicking, kept across a restart, counted on the results page; hostile answers stay text. */
class HhhBrowserTest {
    /** Would run script, add elements and retitle the page if it were not escaped. */
    static final String HOSTILE = "<script>document.title='pwned'</script><img id=\"injected\" src=x onerror=\"document.title='pwned'\">"
            + "<b id='bold-injected'>bold</b> \" onmouseover=\"document.title='pwned'\" ' &amp; </div></body>";

    @TempDir
    static Path dir;
    static HeadlessChrome chrome;

    @BeforeAll
    static void startBrowser() throws Exception {
        chrome = new HeadlessChrome(dir);
    }

    @AfterAll
    static void stopBrowser() throws Exception {
        if (chrome != null) chrome.close();
    }

    @Test
    void votesCastByClickingPersistAcrossRestartAndShowInResults() throws Exception {
        Path work = Files.createDirectories(dir.resolve("votes-test"));
        HhhTasks tasks = HhhFixtures.tasks(work, "What is the capital of France?", "Name three primes.", "Write a haiku about rain.");
        Path votes = work.resolve("votes.jsonl");
        Path summary = work.resolve("votes-summary.json");
        // what the rater means, per question and criterion, about the models
        Map<String, Map<Criterion, Choice>> intended = Map.of(
                "q1", choices(Choice.A, Choice.TIE, Choice.B),
                "q2", choices(Choice.A, Choice.A, Choice.TIE),
                "q3", choices(Choice.B, Choice.TIE, Choice.TIE));
        Map<String, Boolean> shownLeftIsA = new HashMap<>();

        try (HhhServer server = new HhhServer(tasks, votes, summary, 0, null, Clock.systemUTC())) {
            chrome.navigate(server.uri());
            chrome.type(chrome.get("#rater"), "alice");
            chrome.clickAndWaitForPage(chrome.get("#start"));
            assertEquals("0 of 3 done by alice", chrome.text(chrome.get("#progress")));
            chrome.clickAndWaitForPage(chrome.get("#next"));
            for (int i = 0; i < 2; i++) voteOnShownTask(tasks, intended, shownLeftIsA);
            assertEquals("2 of 3 done by alice", chrome.text(chrome.get("#progress")));
        }

        try (HhhServer server = new HhhServer(tasks, votes, summary, 0, null, Clock.systemUTC())) {
            chrome.navigate(server.uri().resolve("/?rater=alice"));
            assertEquals("2 of 3 done by alice", chrome.text(chrome.get("#progress")));
            assertEquals(2, chrome.execute("return document.querySelectorAll('#tasks .done').length").asInt());
            chrome.clickAndWaitForPage(chrome.get("#next"));
            String undone = questionShown(tasks);
            assertFalse(shownLeftIsA.containsKey(undone), "next task is one already voted on: " + undone);
            voteOnShownTask(tasks, intended, shownLeftIsA);
            assertTrue(chrome.find("#all-done").isPresent(), "after the last vote the start page says all done");
            assertEquals("3 of 3 done by alice", chrome.text(chrome.get("#progress")));

            // a reload of a done task shows the same order and the choices made
            chrome.navigate(server.uri().resolve("/task?rater=alice&q=q1"));
            assertEquals(shownLeftIsA.get("q1"), leftIsAOnPage(tasks.task("q1")));
            for (Criterion c : Criterion.values()) {
                String side = intended.get("q1").get(c).side(shownLeftIsA.get("q1"));
                assertTrue(chrome.selected(chrome.get("#" + c.key() + "-" + side)), c + " keeps its choice");
            }

            int[][] expected = new int[3][3];
            intended.values().forEach(m -> m.forEach((c, v) -> expected[c.ordinal()][v.ordinal()]++));
            JsonNode json = ReportFiles.JSON.readTree(summary.toFile());
            assertEquals(3, json.get("verdicts").asInt());
            chrome.navigate(server.uri().resolve("/results"));
            assertEquals("3 verdicts on 3 questions from 1 raters", chrome.text(chrome.get("#verdicts")));
            for (Criterion c : Criterion.values()) {
                JsonNode k = json.get("criteria").get(c.key());
                assertEquals(expected[c.ordinal()][0], k.get("a_wins").asInt(), c + " a_wins");
                assertEquals(expected[c.ordinal()][1], k.get("tie").asInt(), c + " tie");
                assertEquals(expected[c.ordinal()][2], k.get("b_wins").asInt(), c + " b_wins");
                String[] cells = {"a-wins", "tie", "b-wins"};
                for (int w = 0; w < 3; w++) {
                    String text = chrome.text(chrome.get("#row-" + c.key() + " ." + cells[w]));
                    assertTrue(text.startsWith(expected[c.ordinal()][w] + " ("), c + " " + cells[w] + " shows " + text);
                }
                // the pie image was served and decoded by the browser
                assertTrue(chrome.execute("const i = document.getElementById('pie-" + c.key() + "'); return i.complete && i.naturalWidth > 0").asBoolean(),
                        c + " pie loads");
                assertTrue(Files.size(work.resolve("votes-summary-" + c.key() + ".png")) > 1000, c + " pie PNG next to the summary");
            }

            // the log on disk: one line per vote, recording what was shown left
            List<Vote> logged = VoteLog.read(votes);
            assertEquals(3, logged.size());
            for (Vote v : logged) {
                assertEquals("alice", v.rater());
                assertEquals(shownLeftIsA.get(v.questionId()), v.leftIsA(), v.questionId() + " left side");
                assertEquals(intended.get(v.questionId()), v.choices(), v.questionId() + " choices");
            }
        }
    }

    @Test
    void hostileHtmlInAnswersIsShownAsText() throws Exception {
        Path work = Files.createDirectories(dir.resolve("hostile-test"));
        HhhTasks plain = HhhFixtures.tasks(work, "Say hello.");
        HhhTasks tasks = new HhhTasks(plain.modelA(), plain.modelB(), List.of(
                new HhhTasks.Task("q1", "Echo this: " + HOSTILE, HOSTILE, "Fine answer.", HOSTILE)));
        String rater = "<i id=\"rater-injected\">eve</i>";
        try (HhhServer server = new HhhServer(tasks, work.resolve("votes.jsonl"), work.resolve("summary.json"), 0, null, Clock.systemUTC())) {
            chrome.navigate(server.uri().resolve("/task?rater=" + java.net.URLEncoder.encode(rater, "UTF-8") + "&q=q1"));
            assertEquals(HhhServer.TITLE, chrome.title());
            for (String id : new String[] {"#injected", "#bold-injected", "#rater-injected", "script", "img", "b", "i"}) {
                assertTrue(chrome.find(id).isEmpty(), id + " was injected into the page");
            }
            boolean leftIsA = PresentationOrder.leftIsA(rater, "q1");
            assertEquals(HOSTILE, chrome.text(chrome.get(leftIsA ? "#answer-right" : "#answer-left")));
            assertEquals(HOSTILE, chrome.text(chrome.get("#input")));
            assertEquals("Echo this: " + HOSTILE, chrome.text(chrome.get("#instruction")));
            assertTrue(chrome.text(chrome.get("#progress")).endsWith(rater));
            String source = chrome.pageSource();
            assertTrue(source.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img id=\"injected\""), "escaped text in the source");
            // the hostile answer could not break out of the page: the form after it is intact
            for (Criterion c : Criterion.values()) chrome.click(chrome.get("#" + c.key() + "-tie"));
            chrome.clickAndWaitForPage(chrome.get("#submit"));
            assertEquals(HhhServer.TITLE, chrome.title());
            assertEquals(1, VoteLog.read(work.resolve("votes.jsonl")).size());
        }
    }

    private static void voteOnShownTask(HhhTasks tasks, Map<String, Map<Criterion, Choice>> intended, Map<String, Boolean> shownLeftIsA)
            throws IOException, InterruptedException {
        String q = questionShown(tasks);
        boolean leftIsA = leftIsAOnPage(tasks.task(q));
        shownLeftIsA.put(q, leftIsA);
        for (Criterion c : Criterion.values()) {
            Choice want = intended.get(q).get(c);
            // the side is worked out from the answer texts on the page, not from the server's code
            String side = want == Choice.TIE ? "tie" : (want == Choice.A) == leftIsA ? "left" : "right";
            chrome.click(chrome.get("#" + c.key() + "-" + side));
        }
        chrome.clickAndWaitForPage(chrome.get("#submit"));
    }

    private static String questionShown(HhhTasks tasks) throws IOException, InterruptedException {
        String instruction = chrome.text(chrome.get("#instruction"));
        for (HhhTasks.Task t : tasks.tasks()) if (t.instruction().equals(instruction)) return t.id();
        throw new AssertionError("page shows an unknown instruction: " + instruction);
    }

    private static boolean leftIsAOnPage(HhhTasks.Task t) throws IOException, InterruptedException {
        String left = chrome.text(chrome.get("#answer-left"));
        String right = chrome.text(chrome.get("#answer-right"));
        assertTrue(left.equals(t.answerA()) && right.equals(t.answerB()) || left.equals(t.answerB()) && right.equals(t.answerA()),
                "both answers shown, once each");
        assertFalse(chrome.pageSource().contains(HhhFixtures.MODEL_A), "model names are not shown on a task");
        return left.equals(t.answerA());
    }

    private static Map<Criterion, Choice> choices(Choice helpfulness, Choice honesty, Choice harmlessness) {
        Map<Criterion, Choice> m = new EnumMap<>(Criterion.class);
        m.put(Criterion.HELPFULNESS, helpfulness);
        m.put(Criterion.HONESTY, honesty);
        m.put(Criterion.HARMLESSNESS, harmlessness);
        return m;
    }
}
