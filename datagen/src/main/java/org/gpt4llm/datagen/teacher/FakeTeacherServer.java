package org.gpt4llm.datagen.teacher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A local stand-in for an OpenAI-compatible chat API, for tests and benchmarks: it answers
 * {@code POST /v1/chat/completions} in the API's shape with a deterministic answer (by default
 * {@code "ANSWER: "} + the last user message's first line), usage counts (characters / 4), after a
 * fixed latency, and fails on a script: by request number (1-based, in arrival order) or at random
 * with a seed. It records every arrival time, so tests can check what a rate limit let through.
 *
 * <p>Configure, then {@link #start}; port 0 picks a free port. Thread-safe; one virtual thread per request.
 */
public final class FakeTeacherServer implements AutoCloseable {
    /** What a scripted request gets instead of its answer. */
    public enum Failure {
        /** 429 with {@code Retry-After}. */
        RATE_LIMITED,
        /** 500 with an API error body. */
        SERVER_ERROR,
        /** 503 with {@code Retry-After}. */
        UNAVAILABLE,
        /** The answer, after {@link #slowDelay} (set it above the client's timeout). */
        SLOW,
        /** 200 with a body that is not JSON. */
        MALFORMED_JSON,
        /** 200 headers announcing the full Content-Length, half the body, then the connection closes. */
        CLOSED_MID_BODY,
        /** 401 with an API error body. */
        UNAUTHORIZED,
        /** 400 with an API error body. */
        BAD_REQUEST
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final int port;
    private volatile Duration latency = Duration.ZERO;
    private volatile Duration slowDelay = Duration.ofSeconds(5);
    private volatile int retryAfterSeconds = 1;
    private volatile String retryAfterValue;
    private volatile Function<String, String> answer = FakeTeacherServer::defaultAnswer;
    private volatile String requiredKey;
    private volatile boolean echoKey;
    private final Map<Integer, Failure> script = new ConcurrentHashMap<>();
    private volatile double failureProbability;
    private volatile List<Failure> randomFailures = List.of();
    private volatile Random random = new Random(0);
    private volatile String replyModel;
    private volatile String systemFingerprint;
    private volatile ObjectNode modelEntry;

    private final AtomicInteger requests = new AtomicInteger();
    private final List<Long> arrivals = new ArrayList<>();
    private final List<JsonNode> bodies = new ArrayList<>();
    private HttpServer server;
    private ExecutorService executor;

    /** A server for {@code port} on the loopback address; 0 for an ephemeral port. */
    public FakeTeacherServer(int port) {
        this.port = port;
    }

    /** The default answer: "ANSWER: " + the first line of {@code lastUserMessage}. */
    public static String defaultAnswer(String lastUserMessage) {
        int nl = lastUserMessage.indexOf('\n');
        return "ANSWER: " + (nl < 0 ? lastUserMessage : lastUserMessage.substring(0, nl));
    }

    /** Every request waits this long before its answer (or failure). */
    public FakeTeacherServer latency(Duration latency) {
        this.latency = latency;
        return this;
    }

    /** How long a {@link Failure#SLOW} answer takes. */
    public FakeTeacherServer slowDelay(Duration delay) {
        this.slowDelay = delay;
        return this;
    }

    /** The {@code Retry-After} of 429 and 503, in seconds. */
    public FakeTeacherServer retryAfterSeconds(int seconds) {
        this.retryAfterSeconds = seconds;
        this.retryAfterValue = null;
        return this;
    }

    /** A literal {@code Retry-After} header value (an HTTP-date, say), instead of seconds. */
    public FakeTeacherServer retryAfterValue(String value) {
        this.retryAfterValue = value;
        return this;
    }

    /** The answer to a request, from its last user message. */
    public FakeTeacherServer answer(Function<String, String> answer) {
        this.answer = answer;
        return this;
    }

    /** Replies name {@code model} as the model that answered, whatever model the request asked for. */
    public FakeTeacherServer replyModel(String model) {
        this.replyModel = model;
        return this;
    }

    /** Replies carry this {@code system_fingerprint}, as OpenAI's do. */
    public FakeTeacherServer systemFingerprint(String fingerprint) {
        this.systemFingerprint = fingerprint;
        return this;
    }

    /** {@code GET /v1/models} lists one model, {@code id} owned by {@code ownedBy}; set before {@link #start}. */
    public FakeTeacherServer listModel(String id, String ownedBy) {
        ObjectNode entry = JSON.createObjectNode();
        entry.put("id", id).put("object", "model").put("created", 0).put("owned_by", ownedBy);
        this.modelEntry = entry;
        return this;
    }

    /** Answers 401 unless the request carries {@code Authorization: Bearer key}. */
    public FakeTeacherServer requireKey(String key) {
        this.requiredKey = key;
        return this;
    }

    /** A wrong key's 401 quotes the key received, as some proxies do (clients must keep it out of their messages). */
    public FakeTeacherServer echoKeyInErrors() {
        this.echoKey = true;
        return this;
    }

    /** Request number {@code n} (1-based, in arrival order) fails with {@code failure}. */
    public FakeTeacherServer fail(int n, Failure failure) {
        script.put(n, failure);
        return this;
    }

    /** Requests {@code from..to} (inclusive) fail with {@code failure}. */
    public FakeTeacherServer failRange(int from, int to, Failure failure) {
        for (int n = from; n <= to; n++) script.put(n, failure);
        return this;
    }

    /** Unscripted requests fail with probability {@code p}, the kind drawn uniformly from {@code kinds}, from a seeded generator. */
    public FakeTeacherServer failRandomly(double p, long seed, Failure... kinds) {
        if (kinds.length == 0 && p > 0) throw new IllegalArgumentException("random failures need at least one kind");
        this.failureProbability = p;
        this.randomFailures = List.copyOf(Arrays.asList(kinds));
        this.random = new Random(seed);
        return this;
    }

    public FakeTeacherServer start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1024);
        executor = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(executor);
        server.createContext("/v1/chat/completions", this::handle);
        if (modelEntry != null) server.createContext("/v1/models", this::handleModels);
        server.start();
        return this;
    }

    /** The API base to give a client: {@code http://127.0.0.1:PORT/v1}. */
    public String apiBase() {
        return "http://" + server.getAddress().getHostString() + ":" + server.getAddress().getPort() + "/v1";
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /** Requests received so far, failed ones included. */
    public int requestCount() {
        return requests.get();
    }

    /** Arrival times ({@link System#nanoTime}) of every request, in arrival order. */
    public List<Long> arrivals() {
        synchronized (arrivals) {
            return List.copyOf(arrivals);
        }
    }

    /** The request bodies received, in arrival order. */
    public List<JsonNode> bodies() {
        synchronized (arrivals) {
            return List.copyOf(bodies);
        }
    }

    /** The most requests that arrived within any half-open window of length {@code window}. */
    public int maxRequestsInAnyWindow(Duration window) {
        return maxInAnyWindow(arrivals(), window.toNanos());
    }

    /** The most requests received in any 60 s window. */
    public int maxRequestsPerMinute() {
        return maxRequestsInAnyWindow(Duration.ofMinutes(1));
    }

    /** The most of {@code times} (sorted or not) in any window [t, t + window). */
    public static int maxInAnyWindow(List<Long> times, long windowNanos) {
        long[] sorted = times.stream().mapToLong(Long::longValue).sorted().toArray();
        int best = 0;
        for (int start = 0, end = 0; start < sorted.length; start++) {
            while (end < sorted.length && sorted[end] - sorted[start] < windowNanos) end++;
            best = Math.max(best, end - start);
        }
        return best;
    }

    @Override
    public void close() {
        if (server != null) server.stop(0);
        if (executor != null) executor.shutdownNow();
    }

    private void handle(HttpExchange exchange) throws IOException {
        long arrived = System.nanoTime();
        try (exchange) {
            byte[] requestBytes = exchange.getRequestBody().readAllBytes();
            int n;
            JsonNode body;
            try {
                body = JSON.readTree(requestBytes);
            } catch (IOException e) {
                body = null;
            }
            synchronized (arrivals) {
                n = requests.incrementAndGet();
                arrivals.add(arrived);
                bodies.add(body == null ? JSON.nullNode() : body);
            }
            sleep(latency);
            if (!"POST".equals(exchange.getRequestMethod())) {
                sendError(exchange, 405, "only POST is supported");
                return;
            }
            String authorization = exchange.getRequestHeaders().getFirst("Authorization");
            if (requiredKey != null && !("Bearer " + requiredKey).equals(authorization)) {
                String received = authorization == null ? "none" : authorization.replaceFirst("^Bearer ", "");
                sendError(exchange, 401, echoKey ? "Incorrect API key provided: " + received + "." : "Incorrect API key provided.");
                return;
            }
            Failure failure = failureFor(n);
            if (failure != null) {
                switch (failure) {
                    case RATE_LIMITED -> {
                        exchange.getResponseHeaders().set("Retry-After", retryAfter());
                        sendError(exchange, 429, "Rate limit reached for requests.");
                        return;
                    }
                    case UNAVAILABLE -> {
                        exchange.getResponseHeaders().set("Retry-After", retryAfter());
                        sendError(exchange, 503, "The server is overloaded.");
                        return;
                    }
                    case SERVER_ERROR -> {
                        sendError(exchange, 500, "The server had an error while processing your request.");
                        return;
                    }
                    case UNAUTHORIZED -> {
                        sendError(exchange, 401, "Incorrect API key provided.");
                        return;
                    }
                    case BAD_REQUEST -> {
                        sendError(exchange, 400, "Invalid request.");
                        return;
                    }
                    case MALFORMED_JSON -> {
                        send(exchange, 200, "{\"id\": \"chatcmpl-fake\", \"choices\": [{\"message\": ".getBytes(StandardCharsets.UTF_8));
                        return;
                    }
                    case CLOSED_MID_BODY -> {
                        byte[] full = completion(body, n).getBytes(StandardCharsets.UTF_8);
                        exchange.getResponseHeaders().set("Content-Type", "application/json");
                        exchange.sendResponseHeaders(200, full.length);
                        OutputStream out = exchange.getResponseBody();
                        out.write(full, 0, full.length / 2);
                        out.flush();
                        // Closing short of the Content-Length drops the connection.
                        return;
                    }
                    case SLOW -> sleep(slowDelay);
                }
            }
            if (body == null || !body.path("messages").isArray() || body.path("messages").isEmpty()) {
                sendError(exchange, 400, "The request body needs a non-empty messages array.");
                return;
            }
            send(exchange, 200, completion(body, n).getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // The client went away (a timeout on its side); nothing to answer.
        }
    }

    private void handleModels(HttpExchange exchange) throws IOException {
        try (exchange) {
            exchange.getRequestBody().readAllBytes();
            if (!"GET".equals(exchange.getRequestMethod())) {
                sendError(exchange, 405, "only GET is supported");
                return;
            }
            String path = exchange.getRequestURI().getPath().replaceFirst("/+$", "");
            if (path.equals("/v1/models")) {
                ObjectNode json = JSON.createObjectNode().put("object", "list");
                json.putArray("data").add(modelEntry);
                send(exchange, 200, json.toString().getBytes(StandardCharsets.UTF_8));
            } else if (path.equals("/v1/models/" + modelEntry.get("id").asText())) {
                send(exchange, 200, modelEntry.toString().getBytes(StandardCharsets.UTF_8));
            } else {
                sendError(exchange, 404, "The model " + path.substring(path.lastIndexOf('/') + 1) + " does not exist.");
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    private Failure failureFor(int n) {
        Failure scripted = script.get(n);
        if (scripted != null) return scripted;
        if (failureProbability <= 0) return null;
        synchronized (this) {
            return random.nextDouble() < failureProbability ? randomFailures.get(random.nextInt(randomFailures.size())) : null;
        }
    }

    private String retryAfter() {
        String literal = retryAfterValue;
        return literal != null ? literal : Integer.toString(retryAfterSeconds);
    }

    /** A chat completion in OpenAI's shape; the answer is cut to max_tokens * 4 characters ("length"). */
    private String completion(JsonNode body, int n) {
        String lastUser = "";
        long promptChars = 0;
        for (JsonNode m : body.path("messages")) {
            String content = m.path("content").asText("");
            promptChars += content.length();
            if ("user".equals(m.path("role").asText())) lastUser = content;
        }
        String text = answer.apply(lastUser);
        String finish = "stop";
        int maxTokens = body.path("max_tokens").asInt(Integer.MAX_VALUE / 4);
        if (text.length() > (long) maxTokens * 4) {
            text = text.substring(0, maxTokens * 4);
            finish = "length";
        }
        long promptTokens = (promptChars + 3) / 4;
        long completionTokens = (text.length() + 3) / 4;
        ObjectNode json = JSON.createObjectNode();
        json.put("id", "chatcmpl-" + (replyModel != null ? replyModel : "fake") + "-" + n);
        json.put("object", "chat.completion");
        json.put("created", System.currentTimeMillis() / 1000);
        String model = replyModel;
        json.put("model", model != null ? model : body.path("model").asText("fake"));
        if (systemFingerprint != null) json.put("system_fingerprint", systemFingerprint);
        ObjectNode choice = json.putArray("choices").addObject();
        choice.put("index", 0);
        choice.putObject("message").put("role", "assistant").put("content", text);
        choice.put("finish_reason", finish);
        ObjectNode usage = json.putObject("usage");
        usage.put("prompt_tokens", promptTokens);
        usage.put("completion_tokens", completionTokens);
        usage.put("total_tokens", promptTokens + completionTokens);
        return json.toString();
    }

    private static void sendError(HttpExchange exchange, int status, String message) throws IOException {
        ObjectNode json = JSON.createObjectNode();
        ObjectNode error = json.putObject("error");
        error.put("message", message);
        error.put("type", status == 429 ? "rate_limit_exceeded" : status >= 500 ? "server_error" : "invalid_request_error");
        send(exchange, status, json.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange exchange, int status, byte[] bytes) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static void sleep(Duration d) {
        if (d.isZero() || d.isNegative()) return;
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
