package org.gpt4llm.datagen.teacher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.datagen.teacher.FakeTeacherServer.Failure;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class OpenAiTeacherTest {
    private static final String KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e";
    private FakeTeacherServer server;

    @AfterEach
    void stop() {
        if (server != null) server.close();
    }

    /** A timeout a loaded machine still answers within (slow requests take 3 s), short backoff so retries take milliseconds; the key comes from a fake environment. */
    private TeacherOptions options(int maxAttempts) {
        return TeacherOptions.defaults("gpt-4-test")
                .withApiBase(server.apiBase())
                .withKey("TEST_TEACHER_KEY", Map.of("TEST_TEACHER_KEY", KEY)::get)
                .withTimeout(Duration.ofSeconds(1))
                .withRetries(maxAttempts, Duration.ofMillis(5), Duration.ofMillis(20));
    }

    @Test
    void sendsModelMessagesTemperatureMaxTokensAndBearerKey() throws Exception {
        server = new FakeTeacherServer(0).requireKey(KEY).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(1));
        ChatRequest request = new ChatRequest(List.of(Message.system("Be brief."), Message.user("Name a colour.\nAny one.")), 0.7, 64);
        ChatResponse answer = teacher.chat(request);
        assertEquals("ANSWER: Name a colour.", answer.content());
        assertEquals("stop", answer.finishReason());
        assertEquals(1, answer.attempts());
        assertEquals((("Be brief.".length() + "Name a colour.\nAny one.".length()) + 3) / 4, answer.promptTokens());
        assertEquals(("ANSWER: Name a colour.".length() + 3) / 4, answer.completionTokens());
        JsonNode body = server.bodies().getFirst();
        assertEquals("gpt-4-test", JsonChecks.text(body, "model"));
        assertEquals(0.7, JsonChecks.number(body, "temperature"));
        assertEquals(64, JsonChecks.integer(body, "max_tokens"));
        assertEquals("system", JsonChecks.text(JsonChecks.element(JsonChecks.required(body, "messages"), 0), "role"));
        assertEquals("Name a colour.\nAny one.", JsonChecks.text(JsonChecks.element(JsonChecks.required(body, "messages"), 1), "content"));
    }

    @Test
    void aLengthCutAnswerSaysSo() throws Exception {
        server = new FakeTeacherServer(0).answer(q -> "x".repeat(100)).start();
        ChatResponse answer = new OpenAiTeacher(options(1)).chat(ChatRequest.of("hi", 0, 5));
        assertEquals("x".repeat(20), answer.content());
        assertEquals("length", answer.finishReason());
    }

    @ParameterizedTest
    @EnumSource(value = Failure.class, names = {"RATE_LIMITED", "SERVER_ERROR", "UNAVAILABLE", "SLOW", "MALFORMED_JSON", "CLOSED_MID_BODY"})
    void everyTransientFailureIsRetriedThenSucceeds(Failure failure) throws Exception {
        server = new FakeTeacherServer(0).retryAfterSeconds(0).slowDelay(Duration.ofSeconds(3))
                .fail(1, failure).fail(2, failure).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(4));
        ChatResponse answer = teacher.chat(ChatRequest.of("What is 2+2?", 0, 16));
        assertEquals("ANSWER: What is 2+2?", answer.content());
        assertEquals(3, answer.attempts());
        assertEquals(3, server.requestCount());
        Usage.Snapshot usage = teacher.usage().snapshot();
        assertEquals(3, usage.requests());
        assertEquals(2, usage.retries());
        assertEquals(1, usage.answered());
        assertEquals(0, usage.failures());
        String kind = switch (failure) {
            case RATE_LIMITED -> "429";
            case SERVER_ERROR -> "500";
            case UNAVAILABLE -> "503";
            case SLOW -> "timeout";
            case MALFORMED_JSON -> "malformed";
            case CLOSED_MID_BODY -> "connection";
            default -> throw new AssertionError(failure);
        };
        assertEquals(Map.of(kind, 2L), usage.failedAttempts());
    }

    @Test
    void unauthorizedIsNotRetriedAndNamesStatusAndMessage() throws Exception {
        server = new FakeTeacherServer(0).requireKey("sk-the-right-one").start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(5));
        TeacherException e = assertThrows(TeacherException.class, () -> teacher.chat(ChatRequest.of("hi", 0, 8)));
        assertEquals(401, e.status());
        assertEquals(1, server.requestCount());
        assertTrue(e.getMessage().contains("401"), e.getMessage());
        assertTrue(e.getMessage().contains(": Incorrect API key provided (not retried)."), e.getMessage());
        assertTrue(e.getMessage().contains("not retried"), e.getMessage());
        assertEquals(1, teacher.usage().snapshot().failures());
    }

    @Test
    void badRequestIsNotRetried() throws Exception {
        server = new FakeTeacherServer(0).fail(1, Failure.BAD_REQUEST).start();
        TeacherException e = assertThrows(TeacherException.class, () -> new OpenAiTeacher(options(5)).chat(ChatRequest.of("hi", 0, 8)));
        assertEquals(400, e.status());
        assertEquals(1, server.requestCount());
    }

    @Test
    void retryAfterSecondsIsWaitedAtLeast() throws Exception {
        server = new FakeTeacherServer(0).retryAfterSeconds(1).fail(1, Failure.RATE_LIMITED).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(3));
        teacher.chat(ChatRequest.of("hi", 0, 8));
        List<Long> arrivals = server.arrivals();
        assertEquals(2, arrivals.size());
        long gap = arrivals.get(1) - arrivals.get(0);
        assertTrue(gap >= Duration.ofSeconds(1).toNanos(), "retried after " + gap / 1e6 + " ms, Retry-After was 1 s");
    }

    @Test
    void retryAfterHttpDateIsWaitedAtLeast() throws Exception {
        // The date is whole seconds 2-3 s ahead; how long that is after the first request depends on
        // how long the server took to start, so the retry is checked against the date itself.
        ZonedDateTime at = ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(3).withNano(0);
        String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(at);
        server = new FakeTeacherServer(0).retryAfterValue(date).fail(1, Failure.UNAVAILABLE).start();
        new OpenAiTeacher(options(3)).chat(ChatRequest.of("hi", 0, 8));
        List<Long> arrivals = server.arrivals();
        assertEquals(2, arrivals.size());
        // The retry's arrival on the wall clock: now, less the nanoTime that has passed since.
        long retryEpochNanos = java.time.Instant.now().toEpochMilli() * 1_000_000L - (System.nanoTime() - arrivals.get(1));
        long early = at.toInstant().toEpochMilli() * 1_000_000L - retryEpochNanos;
        // 5 ms covers reading two clocks one after the other; a client ignoring the date retries seconds early.
        assertTrue(early <= Duration.ofMillis(5).toNanos(), "retried " + early / 1e6 + " ms before the Retry-After date " + date);
    }

    @Test
    void parsesRetryAfterForms() {
        assertEquals(Duration.ofSeconds(7), OpenAiTeacher.parseRetryAfter("7"));
        assertEquals(Duration.ofMillis(1500), OpenAiTeacher.parseRetryAfter("1.5"));
        assertEquals(Duration.ZERO, OpenAiTeacher.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
        assertEquals(null, OpenAiTeacher.parseRetryAfter("soon"));
        assertEquals(null, OpenAiTeacher.parseRetryAfter(null));
    }

    @Test
    void failingEveryAttemptGivesOneSentenceWithStatusAndAttempts() throws Exception {
        server = new FakeTeacherServer(0).failRange(1, 10, Failure.SERVER_ERROR).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(3));
        TeacherException e = assertThrows(TeacherException.class, () -> teacher.chat(ChatRequest.of("hi", 0, 8)));
        assertEquals(500, e.status());
        assertEquals(3, server.requestCount());
        assertEquals("The teacher answered 500 Internal Server Error: The server had an error while processing your request, after 3 attempts.",
                e.getMessage());
        Usage.Snapshot usage = teacher.usage().snapshot();
        assertEquals(1, usage.failures());
        assertEquals(2, usage.retries());
        assertEquals(3L, usage.failedAttempts().get("500"));
    }

    @Test
    void timeoutsOnEveryAttemptSayNoResponseCame() throws Exception {
        server = new FakeTeacherServer(0).slowDelay(Duration.ofSeconds(3)).failRange(1, 10, Failure.SLOW).start();
        TeacherException e = assertThrows(TeacherException.class, () -> new OpenAiTeacher(options(2)).chat(ChatRequest.of("hi", 0, 8)));
        assertEquals(0, e.status());
        assertTrue(e.getMessage().contains("within 1000 ms") && e.getMessage().endsWith("after 2 attempts."), e.getMessage());
    }

    @Test
    void usageAndCostTotalsAddUpAcrossThreads() throws Exception {
        server = new FakeTeacherServer(0).failRandomly(0.2, 42, Failure.SERVER_ERROR, Failure.MALFORMED_JSON).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(10).withPrices(0.03, 0.06));
        List<ChatRequest> requests = new ArrayList<>();
        for (int i = 0; i < 40; i++) requests.add(ChatRequest.of("Question number " + i + " " + "w".repeat(i * 3), 0, 64));
        long prompt = 0;
        long completion = 0;
        int attempts = 0;
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<ChatResponse>> answers = new ArrayList<>();
            for (ChatRequest r : requests) answers.add(pool.submit(() -> teacher.chat(r)));
            for (int i = 0; i < answers.size(); i++) {
                ChatResponse a = answers.get(i).get();
                assertEquals(FakeTeacherServer.defaultAnswer(requests.get(i).messages().getFirst().content()), a.content());
                prompt += a.promptTokens();
                completion += a.completionTokens();
                attempts += a.attempts();
            }
        }
        Usage.Snapshot usage = teacher.usage().snapshot();
        assertEquals(40, usage.answered());
        assertEquals(server.requestCount(), usage.requests());
        assertEquals(attempts, usage.requests());
        assertEquals(attempts - 40, usage.retries());
        assertTrue(usage.retries() > 0, "the seeded failures should have caused retries");
        assertEquals(prompt, usage.promptTokens());
        assertEquals(completion, usage.completionTokens());
        double cost = prompt / 1000.0 * 0.03 + completion / 1000.0 * 0.06;
        assertEquals(cost, usage.cost(), 1e-12);
        JsonNode json = usage.toJson();
        assertEquals(prompt, JsonChecks.integer(json, "prompt_tokens"));
        assertEquals(completion, JsonChecks.integer(json, "completion_tokens"));
        assertEquals(cost, JsonChecks.number(json, "cost_usd"), 1e-12);
        assertEquals(usage.retries(), JsonChecks.integer(json, "retries"));
        assertTrue(usage.summary().startsWith(usage.requests() + " requests (40 answered, 0 failed, " + usage.retries() + " retries)"), usage.summary());
    }

    @Test
    void theKeyAppearsInNoMessageOrToString() throws Exception {
        server = new FakeTeacherServer(0).start();
        FakeTeacherServer echo = new FakeTeacherServer(0).requireKey("other").echoKeyInErrors().start();
        try {
            TeacherOptions options = options(2);
            OpenAiTeacher teacher = new OpenAiTeacher(options);
            assertTrue(teacher.hasKey());
            assertFalse(teacher.toString().contains(KEY), teacher.toString());
            assertFalse(options.toString().contains(KEY), options.toString());
            assertFalse(teacher.usage().snapshot().toJson().toString().contains(KEY));
            List<String> messages = new ArrayList<>();
            for (Failure f : Failure.values()) {
                try (FakeTeacherServer failing = new FakeTeacherServer(0).slowDelay(Duration.ofSeconds(3)).retryAfterSeconds(0)
                        .failRange(1, 5, f).start()) {
                    OpenAiTeacher t = new OpenAiTeacher(options.withApiBase(failing.apiBase()));
                    TeacherException e = assertThrows(TeacherException.class, () -> t.chat(ChatRequest.of("hi", 0, 8)));
                    messages.add(e.getMessage());
                    for (Throwable c = e.getCause(); c != null; c = c.getCause()) messages.add(String.valueOf(c.getMessage()));
                }
            }
            OpenAiTeacher unauthorized = new OpenAiTeacher(options.withApiBase(echo.apiBase()));
            String echoed = assertThrows(TeacherException.class, () -> unauthorized.chat(ChatRequest.of("hi", 0, 8))).getMessage();
            assertEquals("The teacher answered 401 Unauthorized: Incorrect API key provided: *** (not retried).", echoed);
            messages.add(echoed);
            for (String m : messages) assertFalse(m.contains(KEY), m);
            assertEquals(Failure.values().length + 1, messages.stream().filter(m -> m.startsWith("The teacher")).count());
        } finally {
            echo.close();
        }
    }

    @Test
    void noKeyIsFineForLocalServers() throws Exception {
        server = new FakeTeacherServer(0).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(1).withKey("UNSET_VARIABLE", name -> null));
        assertFalse(teacher.hasKey());
        assertEquals("ANSWER: hi", teacher.chat(ChatRequest.of("hi", 0, 8)).content());
    }

    @Test
    void aRequestLargerThanTheTokenLimitFailsAtOnce() throws Exception {
        server = new FakeTeacherServer(0).start();
        OpenAiTeacher teacher = new OpenAiTeacher(options(3).withLimits(0, 100));
        TeacherException e = assertThrows(TeacherException.class, () -> teacher.chat(ChatRequest.of("hi", 0, 200)));
        assertTrue(e.getMessage().contains("limit of 100 tokens"), e.getMessage());
        assertEquals(0, server.requestCount());
    }

    @Test
    void unreachableServerIsAConnectionFailure() throws Exception {
        server = new FakeTeacherServer(0).start();
        String base = server.apiBase();
        server.close();
        server = null;
        TeacherException e = assertThrows(TeacherException.class,
                () -> new OpenAiTeacher(TeacherOptions.defaults("m").withApiBase(base).withKey("X", k -> null)
                        .withTimeout(Duration.ofMillis(300)).withRetries(2, Duration.ofMillis(1), Duration.ofMillis(2)))
                        .chat(ChatRequest.of("hi", 0, 8)));
        assertEquals(0, e.status());
        assertTrue(e.getMessage().startsWith("The teacher request failed: the connection to " + base), e.getMessage());
        assertTrue(e.getMessage().endsWith("after 2 attempts."), e.getMessage());
    }
}
