package org.gpt4llm.datagen.teacher;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@link Teacher} over an OpenAI-compatible {@code POST {apiBase}/chat/completions}. Thread-safe:
 * one instance serves every thread of a job; the rate limiter, retries and usage totals are shared.
 *
 * <p>Retried, with exponential backoff and full jitter: 429, 5xx, 408, timeouts, dropped or
 * truncated connections, and bodies that are not the API's JSON; a {@code Retry-After} on 429/503 is
 * waited at least. Not retried: other 4xx (a bad request or key stays bad). Every HTTP attempt passes
 * the rate limiter, reserving the prompt's estimated tokens (characters / 4) plus {@code max_tokens}
 * and settling to the reported usage.
 *
 * <p>The API key is read once from the environment and appears in nothing but the Authorization
 * header: not in logs, exception messages (the server's error text is scrubbed of it) or toString.
 */
public final class OpenAiTeacher implements Teacher, UsageReport, AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A Retry-After beyond this is a server's mistake, not a plan. */
    private static final Duration MAX_RETRY_AFTER = Duration.ofMinutes(10);

    private final TeacherOptions options;
    private final String key;
    private final URI endpoint;
    private final RateLimiter limiter;
    private final Usage usage;
    private final HttpClient http;

    /** A teacher with a per-minute limiter from the options' limits. */
    public OpenAiTeacher(TeacherOptions options) {
        this(options, RateLimiter.perMinute(options.requestsPerMinute(), options.tokensPerMinute()));
    }

    /** A teacher with its own limiter (a shorter window for benchmarks, a test clock); the options' limits are then unused. */
    public OpenAiTeacher(TeacherOptions options, RateLimiter limiter) {
        this.options = options;
        String fromEnv = options.env().apply(options.keyVariable());
        this.key = fromEnv == null || fromEnv.isBlank() ? null : fromEnv.strip();
        this.endpoint = URI.create(options.apiBase() + "/chat/completions");
        this.limiter = limiter;
        this.usage = new Usage(options.model(), options.promptPricePer1K(), options.completionPricePer1K());
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(options.timeout())
                .build();
    }

    public TeacherOptions options() {
        return options;
    }

    /** Whether a key was found in the options' variable (never the key itself). */
    public boolean hasKey() {
        return key != null;
    }

    @Override
    public String usageSummary() {
        return usage().snapshot().summary();
    }

    public Usage usage() {
        return usage;
    }

    @Override
    public ChatResponse chat(ChatRequest request) throws TeacherException {
        String body = requestBody(request);
        long reserve = estimatePromptTokens(request) + request.maxTokens();
        if (limiter.tokenLimit() > 0 && reserve > limiter.tokenLimit()) {
            usage.failed();
            throw new TeacherException("A request reserving " + reserve + " tokens (prompt estimate + max_tokens) can never fit the limit of "
                    + limiter.tokenLimit() + " tokens per minute.", 0, null);
        }
        Failure last = null;
        for (int attempt = 1; attempt <= options.maxAttempts(); attempt++) {
            if (attempt > 1) {
                usage.retry();
                sleep(backoff(attempt - 1, last.retryAfter));
            }
            RateLimiter.Permit permit;
            try {
                permit = limiter.acquire(reserve);
            } catch (InterruptedException e) {
                throw interrupted(e);
            }
            usage.attempt();
            TeacherRequestEvent event = new TeacherRequestEvent();
            event.begin();
            Outcome outcome = send(body);
            if (event.shouldCommit()) {
                event.model = options.model();
                event.attempt = attempt;
                event.status = outcome.response != null ? 200 : outcome.failure.status;
                event.outcome = outcome.response != null ? "ok" : outcome.failure.kind;
                event.promptTokens = outcome.response != null ? outcome.response.promptTokens() : -1;
                event.completionTokens = outcome.response != null ? outcome.response.completionTokens() : -1;
                event.commit();
            }
            if (outcome.response != null) {
                ChatResponse answer = outcome.response;
                if (answer.promptTokens() < 0)
                    answer = new ChatResponse(answer.content(), answer.finishReason(), (int) (reserve - request.maxTokens()),
                            answer.completionTokens(), attempt);
                permit.settle((long) answer.promptTokens() + answer.completionTokens());
                usage.answered(answer.promptTokens(), answer.completionTokens());
                return new ChatResponse(answer.content(), answer.finishReason(), answer.promptTokens(),
                        answer.completionTokens(), attempt);
            }
            last = outcome.failure;
            usage.failedAttempt(last.kind);
            if (!last.retryable) {
                usage.failed();
                throw new TeacherException(last.sentence() + " (not retried).", last.status, last.cause);
            }
        }
        usage.failed();
        throw new TeacherException(last.sentence() + ", after " + options.maxAttempts() + " attempt"
                + (options.maxAttempts() == 1 ? "" : "s") + ".", last.status, last.cause);
    }

    /** Why one attempt failed; {@code status} 0 when no response came. */
    private record Failure(int status, String kind, String reason, boolean retryable, Duration retryAfter, Throwable cause) {
        String sentence() {
            return status == 0 ? "The teacher request failed: " + reason
                    : "The teacher answered " + status + " " + reasonPhrase(status) + ": " + reason;
        }
    }

    private record Outcome(ChatResponse response, Failure failure) {}

    private Outcome send(String body) throws TeacherException {
        HttpRequest.Builder builder = HttpRequest.newBuilder(endpoint)
                .timeout(options.timeout())
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) builder.header("Authorization", "Bearer " + key);
        CompletableFuture<HttpResponse<String>> future = http.sendAsync(builder.build(), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> response;
        try {
            // The request timeout covers the wait for headers; this one covers the body as well.
            response = future.get(options.timeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            return fail(0, "timeout", "no complete answer within " + options.timeout().toMillis() + " ms", true, null, e);
        } catch (InterruptedException e) {
            future.cancel(true);
            throw interrupted(e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof HttpTimeoutException)
                return fail(0, "timeout", "no answer within " + options.timeout().toMillis() + " ms", true, null, cause);
            if (cause instanceof IOException)
                return fail(0, "connection", "the connection to " + options.apiBase() + " failed (" + describe(cause) + ")", true, null, cause);
            return fail(0, "connection", "the HTTP client failed (" + cause.getClass().getSimpleName() + ")", true, null, null);
        }
        int status = response.statusCode();
        if (status != 200) {
            boolean retryable = status == 429 || status == 408 || status >= 500;
            Duration retryAfter = status == 429 || status == 503
                    ? parseRetryAfter(response.headers().firstValue("Retry-After").orElse(null)) : null;
            return fail(status, Integer.toString(status), apiErrorMessage(response.body()), retryable, retryAfter, null);
        }
        try {
            return new Outcome(parseAnswer(response.body()), null);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            return fail(status, "malformed", "the body is not a chat completion (" + scrub(firstLine(e.getMessage())) + ")", true, null, null);
        }
    }

    private static Outcome fail(int status, String kind, String reason, boolean retryable, Duration retryAfter, Throwable cause) {
        return new Outcome(null, new Failure(status, kind, reason, retryable, retryAfter, cause));
    }

    private String requestBody(ChatRequest request) {
        ObjectNode json = JSON.createObjectNode();
        json.put("model", options.model());
        ArrayNode messages = json.putArray("messages");
        for (Message m : request.messages()) messages.addObject().put("role", m.role()).put("content", m.content());
        json.put("temperature", request.temperature());
        json.put("max_tokens", request.maxTokens());
        return json.toString();
    }

    /** The usual rule of thumb for English: four characters a token. */
    static long estimatePromptTokens(ChatRequest request) {
        long chars = 0;
        for (Message m : request.messages()) chars += m.content().length();
        return (chars + 3) / 4;
    }

    private static ChatResponse parseAnswer(String body) throws JsonProcessingException {
        JsonNode json = JSON.readTree(body);
        JsonNode choice = json == null ? null : json.path("choices").path(0);
        if (choice == null || !choice.path("message").path("content").isTextual())
            throw new IllegalArgumentException("no choices[0].message.content");
        String content = choice.path("message").path("content").asText();
        String finish = choice.path("finish_reason").asText("stop");
        JsonNode usageNode = json.path("usage");
        // Local servers may leave usage out; the estimate keeps the accounting and limiter meaningful.
        int prompt = usageNode.path("prompt_tokens").asInt(-1);
        int completion = usageNode.path("completion_tokens").asInt(-1);
        if (completion < 0) completion = (content.length() + 3) / 4;
        return new ChatResponse(content, finish, prompt, completion, 1);
    }

    /** The API's {@code error.message}, else the body's first line, else "no message". */
    private String apiErrorMessage(String body) {
        String text = null;
        try {
            JsonNode json = JSON.readTree(body);
            if (json != null && json.path("error").path("message").isTextual()) text = json.path("error").path("message").asText();
        } catch (JsonProcessingException e) {
            // Not JSON: fall back to the text itself.
        }
        if (text == null) text = body == null ? "" : firstLine(body);
        text = text.strip();
        if (text.length() > 300) text = text.substring(0, 300) + "...";
        // It ends up inside our sentence, which has its own full stop.
        while (text.endsWith(".") && !text.endsWith("...")) text = text.substring(0, text.length() - 1);
        return text.isEmpty() ? "no message" : scrub(text);
    }

    /** Removes the key from text a server sent back (some echo it). */
    private String scrub(String text) {
        return key == null || text == null ? text : text.replace(key, "***");
    }

    private String describe(Throwable e) {
        String message = e.getMessage();
        return e.getClass().getSimpleName() + (message == null ? "" : ": " + scrub(firstLine(message)));
    }

    private static String firstLine(String text) {
        if (text == null) return "";
        int nl = text.indexOf('\n');
        return nl < 0 ? text : text.substring(0, nl);
    }

    /** Retry-After as seconds or an HTTP-date; null when absent or unreadable. */
    static Duration parseRetryAfter(String value) {
        if (value == null || value.isBlank()) return null;
        value = value.strip();
        try {
            double seconds = Double.parseDouble(value);
            if (seconds < 0 || Double.isNaN(seconds)) return null;
            Duration d = Duration.ofMillis((long) Math.ceil(seconds * 1000));
            return d.compareTo(MAX_RETRY_AFTER) > 0 ? MAX_RETRY_AFTER : d;
        } catch (NumberFormatException notSeconds) {
            try {
                ZonedDateTime at = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME);
                Duration d = Duration.between(ZonedDateTime.now(at.getZone()), at);
                if (d.isNegative()) return Duration.ZERO;
                return d.compareTo(MAX_RETRY_AFTER) > 0 ? MAX_RETRY_AFTER : d;
            } catch (DateTimeParseException notDate) {
                return null;
            }
        }
    }

    /** Full jitter: uniform in [0, min(max, base * 2^(retry-1))], but never less than the server's Retry-After. */
    private Duration backoff(int retry, Duration retryAfter) {
        long base = options.backoffBase().toNanos();
        long ceiling = options.backoffMax().toNanos();
        long cap = (long) Math.min((double) ceiling, Math.scalb((double) base, Math.min(retry - 1, 60)));
        long jitter = cap <= 0 ? 0 : ThreadLocalRandom.current().nextLong(cap + 1);
        return retryAfter == null ? Duration.ofNanos(jitter) : Duration.ofNanos(Math.max(jitter, retryAfter.toNanos()));
    }

    private static void sleep(Duration d) throws TeacherException {
        try {
            if (!d.isZero()) Thread.sleep(d);
        } catch (InterruptedException e) {
            throw interrupted(e);
        }
    }

    private static TeacherException interrupted(InterruptedException e) {
        Thread.currentThread().interrupt();
        return new TeacherException("The teacher request was interrupted.", 0, e);
    }

    static String reasonPhrase(int status) {
        return switch (status) {
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 403 -> "Forbidden";
            case 404 -> "Not Found";
            case 408 -> "Request Timeout";
            case 409 -> "Conflict";
            case 413 -> "Payload Too Large";
            case 422 -> "Unprocessable Entity";
            case 429 -> "Too Many Requests";
            case 500 -> "Internal Server Error";
            case 502 -> "Bad Gateway";
            case 503 -> "Service Unavailable";
            case 504 -> "Gateway Timeout";
            default -> status >= 500 ? "Server Error" : "Client Error";
        };
    }

    /** Closes the HTTP client's connections, after the requests in flight. */
    @Override
    public void close() {
        http.close();
    }

    @Override
    public String toString() {
        return "OpenAiTeacher[model=" + options.model() + ", apiBase=" + options.apiBase() + ", key="
                + (key == null ? "none" : "from " + options.keyVariable()) + "]";
    }
}
