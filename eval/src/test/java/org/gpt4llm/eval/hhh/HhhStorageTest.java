package org.gpt4llm.eval.hhh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Vote storage, the shown order and the server's checks, without a browser. */
class HhhStorageTest {
    @TempDir
    Path dir;

    private static Vote randomVote(SplittableRandom rnd, String rater, String q) {
        Map<Criterion, Choice> m = new EnumMap<>(Criterion.class);
        for (Criterion c : Criterion.values()) m.put(c, Choice.values()[rnd.nextInt(3)]);
        return new Vote(rater, Instant.ofEpochSecond(1_700_000_000L + rnd.nextInt(1_000_000)), q, "m-a", "m-b", rnd.nextBoolean(), m);
    }

    @Test
    void votesRoundTripThroughTheAppendOnlyFile() throws IOException {
        SplittableRandom rnd = new SplittableRandom(7);
        Path file = dir.resolve("sub/votes.jsonl");
        List<Vote> cast = new ArrayList<>();
        try (VoteLog log = new VoteLog(file)) {
            for (int i = 0; i < 5; i++) {
                Vote v = randomVote(rnd, "r" + rnd.nextInt(3), "q" + i);
                log.append(v);
                cast.add(v);
            }
        }
        // the file is not truncated by reopening, and later appends land after the earlier ones
        try (VoteLog log = new VoteLog(file)) {
            assertEquals(cast, log.votes());
            Vote v = randomVote(rnd, "zoë \"quoted\"", "q\n9");
            log.append(v);
            cast.add(v);
        }
        assertEquals(cast, VoteLog.read(file));
        assertEquals(6, Files.readAllLines(file).size());
    }

    @Test
    void aVoteTornByACrashIsSkippedAndTheNextStartsOnItsOwnLine() throws IOException {
        SplittableRandom rnd = new SplittableRandom(11);
        Path file = dir.resolve("votes.jsonl");
        Vote first = randomVote(rnd, "a", "q1");
        try (VoteLog log = new VoteLog(file)) {
            log.append(first);
        }
        Files.writeString(file, "{\"rater\":\"a\",\"ti", java.nio.file.StandardOpenOption.APPEND);
        Vote second = randomVote(rnd, "a", "q2");
        try (VoteLog log = new VoteLog(file)) {
            assertEquals(List.of(first), log.votes());
            log.append(second);
        }
        // the torn line is now in the middle, complete with its newline: reading names it
        IOException e = assertThrows(IOException.class, () -> VoteLog.read(file));
        assertTrue(e.getMessage().startsWith(file + ":2 is not valid JSON"), e.getMessage());
    }

    @Test
    void badVoteRecordsAreNamedByLine() throws IOException {
        Path file = dir.resolve("votes.jsonl");
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var vote = randomVote(new SplittableRandom(3), "a", "q1").toJson();
        String good = json.writeValueAsString(vote);
        String bad = json.writeValueAsString(vote.put("helpfulness", "maybe"));
        Files.writeString(file, good + "\n" + bad + "\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VoteLog.read(file));
        assertEquals(file + ":2: choice \"maybe\" is not one of a, tie, b", e.getMessage());
    }

    @Test
    void sidesMapBackToModels() {
        for (boolean leftIsA : new boolean[] {true, false}) {
            for (Choice c : Choice.values()) assertEquals(c, Choice.fromSide(c.side(leftIsA), leftIsA));
        }
        assertEquals(Choice.A, Choice.fromSide("left", true));
        assertEquals(Choice.B, Choice.fromSide("left", false));
        assertEquals(Choice.A, Choice.fromSide("right", false));
        assertEquals(Choice.TIE, Choice.fromSide("tie", false));
        assertThrows(IllegalArgumentException.class, () -> Choice.fromSide("up", true));
    }

    @Test
    void orderIsStablePerRaterAndQuestionAndBalanced() {
        int questions = 400, leftA = 0, differ = 0;
        for (int q = 0; q < questions; q++) {
            boolean alice = PresentationOrder.leftIsA("alice", Integer.toString(q));
            assertEquals(alice, PresentationOrder.leftIsA("alice", Integer.toString(q)), "a reload shows the same order");
            if (alice) leftA++;
            if (alice != PresentationOrder.leftIsA("bob", Integer.toString(q))) differ++;
        }
        // Binomial(400, 1/2): mean 200, sd 10; 5 sd either side
        assertTrue(leftA > 150 && leftA < 250, "model A shown left " + leftA + " of " + questions);
        assertTrue(differ > 150 && differ < 250, "raters see different orders on " + differ + " of " + questions);
    }

    @Test
    void tallyCountsTheLatestVoteOfEachRaterOnEachQuestion() throws IOException {
        HhhTasks tasks = HhhFixtures.tasks(dir, "one", "two");
        SplittableRandom rnd = new SplittableRandom(5);
        List<Vote> votes = new ArrayList<>();
        int[][] expected = new int[3][3];
        for (String rater : List.of("a", "b")) {
            for (String q : List.of("q1", "q2")) {
                votes.add(randomVote(rnd, rater, q));   // changed mind: replaced by the next one
                Vote last = randomVote(rnd, rater, q);
                votes.add(last);
                last.choices().forEach((c, v) -> expected[c.ordinal()][v.ordinal()]++);
            }
        }
        votes.add(randomVote(rnd, "a", "q-unknown"));
        HhhTally t = HhhTally.of(tasks, votes);
        assertEquals(4, t.verdicts());
        assertEquals(Map.of("a", 2, "b", 2), t.doneByRater());
        for (Criterion c : Criterion.values()) assertEquals(List.of(expected[c.ordinal()][0], expected[c.ordinal()][1], expected[c.ordinal()][2]),
                List.of(t.counts().get(c)[0], t.counts().get(c)[1], t.counts().get(c)[2]), c.key());
        assertEquals(null, HhhTally.of(tasks, List.of()).pie(Criterion.HONESTY), "no pie of nothing");
    }

    @Test
    void tasksPairAnswersWithQuestionsAndNameWhatIsMissing() throws IOException {
        List<String> q = new ArrayList<>();
        for (int i = 1; i <= 80; i++) q.add("{\"question_id\": " + i + ", \"text\": \"Question number " + i + "\", \"category\": \"generic\"}");
        Path questions = Files.write(dir.resolve("questions.jsonl"), q);
        List<String> a = new ArrayList<>(), b = new ArrayList<>();
        for (int i = 80; i >= 1; i--) {   // answer order need not follow the questions
            a.add("{\"question_id\": " + i + ", \"text\": \"A" + i + "\", \"model_id\": \"llama-gpt4\"}");
            b.add("{\"id\": " + i + ", \"output\": \"B" + i + "\"}");
        }
        Path fa = Files.write(dir.resolve("a.jsonl"), a), fb = Files.write(dir.resolve("alpaca.jsonl"), b);
        HhhTasks tasks = HhhTasks.load(questions, fa, fb, null, null);
        assertEquals(80, tasks.tasks().size());
        assertEquals("llama-gpt4", tasks.modelA());
        assertEquals("alpaca", tasks.modelB());
        HhhTasks.Task t = tasks.task("17");
        assertEquals("A17", t.answerA());
        assertEquals("B17", t.answerB());
        assertEquals("Question number 17", t.instruction());

        Files.write(fb, b.subList(0, 79));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HhhTasks.load(questions, fa, fb, null, null));
        assertEquals(fb + " has no answer to question 1 of " + questions, e.getMessage());
        Files.write(fb, List.of("{\"id\": 81, \"output\": \"x\"}"));
        e = assertThrows(IllegalArgumentException.class, () -> HhhTasks.load(questions, fa, fb, null, null));
        assertEquals(fb + ":1: question id 81 is not in " + questions, e.getMessage());
    }

    @Test
    void serverRefusesIncompleteVotesAndVotesOnOtherModels() throws Exception {
        HhhTasks tasks = HhhFixtures.tasks(dir, "one");
        Path votes = dir.resolve("votes.jsonl");
        Clock clock = Clock.fixed(Instant.parse("2026-01-02T03:04:05Z"), ZoneOffset.UTC);
        try (HhhServer server = new HhhServer(tasks, votes, dir.resolve("s.json"), 0, "carol", clock)) {
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(server.uri().resolve("/vote"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .POST(HttpRequest.BodyPublishers.ofString("q=q1&helpfulness=left&honesty=tie")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, r.statusCode());
            assertTrue(r.body().contains("no choice for Harmlessness"), r.body());
            assertEquals(List.of(), VoteLog.read(votes));
            r = http.send(HttpRequest.newBuilder(server.uri().resolve("/vote")).header("Content-Type", "application/x-www-form-urlencoded")
                    .POST(HttpRequest.BodyPublishers.ofString("q=q1&helpfulness=left&honesty=tie&harmlessness=right")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(303, r.statusCode());
            Vote v = VoteLog.read(votes).getFirst();
            assertEquals("carol", v.rater());
            assertEquals(clock.instant(), v.time());
            boolean leftIsA = PresentationOrder.leftIsA("carol", "q1");
            assertEquals(leftIsA, v.leftIsA());
            assertEquals(leftIsA ? Choice.A : Choice.B, v.choices().get(Criterion.HELPFULNESS));
            assertEquals(leftIsA ? Choice.B : Choice.A, v.choices().get(Criterion.HARMLESSNESS));
            assertEquals(404, http.send(HttpRequest.newBuilder(server.uri().resolve("/nothing")).build(), HttpResponse.BodyHandlers.discarding()).statusCode());
        }
        HhhTasks renamed = HhhTasks.load(dir.resolve("questions.jsonl"), dir.resolve("answers_a.jsonl"), dir.resolve("answers_b.jsonl"), "x", "y");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new HhhServer(renamed, votes, dir.resolve("s.json"), 0, null, Clock.systemUTC()));
        assertTrue(e.getMessage().startsWith(votes + " holds votes on " + HhhFixtures.MODEL_A + " vs " + HhhFixtures.MODEL_B), e.getMessage());
        assertNotEquals(0, Files.size(dir.resolve("s.json")));
    }
}
