package org.gpt4llm.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.TextGenerator;

/**
 * An OpenAI-compatible HTTP API over a {@link TextGenerator}: {@code GET /v1/models},
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions}, plain or streamed as server-sent
 * events, with OpenAI's response and error shapes. Each request runs on a virtual thread; the rows of
 * concurrent requests are decoded together by a {@link BatchScheduler}.
 *
 * <pre>{@code
 * try (OpenAiServer server = OpenAiServer.start(generator, ServerConfig.defaults("my-model"))) {
 *     URI api = server.baseUri();   // http://127.0.0.1:<port>/v1
 * }
 * }</pre>
 */
public final class OpenAiServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SecureRandom IDS = new SecureRandom();

    private final TextGenerator generator;
    private final ServerConfig config;
    private final OpenAiRequest.Limits limits;
    private final byte[] expectedAuthorization;
    private final long created = System.currentTimeMillis() / 1000;
    private final BatchScheduler scheduler;
    private final ExecutorService handlers = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpServer http;
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile boolean closing;
    /** Requests inside {@link #handle}: what {@link #close} lets finish. */
    private int inFlight;

    private OpenAiServer(TextGenerator generator, ServerConfig config) throws IOException {
        this.generator = generator;
        this.config = config;
        int context = generator.maxLength();
        if (context < 2) throw new IllegalArgumentException("the model's context of " + context + " tokens leaves no room to generate");
        int maxPrompt = config.maxPromptTokens() == 0 ? context - 1 : config.maxPromptTokens();
        if (maxPrompt >= context) {
            throw new IllegalArgumentException("--max-prompt-tokens " + maxPrompt + " leaves no room to generate in the model's context of "
                    + context + " tokens");
        }
        this.limits = new OpenAiRequest.Limits(maxPrompt, config.maxTokens(), context, config.queue());
        this.expectedAuthorization = config.apiKey() == null ? null : ("Bearer " + config.apiKey()).getBytes(StandardCharsets.UTF_8);
        try {
            this.http = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 0);
        } catch (IOException e) {
            throw new IOException("cannot listen on " + config.host() + ":" + config.port() + ": " + e.getMessage(), e);
        }
        this.scheduler = new BatchScheduler(generator, config.maxBatch(), config.queue(), config.batchWait());
        http.setExecutor(handlers);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Listens on {@code config}'s address (port 0: an ephemeral one) until {@link #close()}. */
    public static OpenAiServer start(TextGenerator generator, ServerConfig config) throws IOException {
        return new OpenAiServer(generator, config);
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** {@code http://host:port/v1}, the base URL OpenAI clients take. */
    public URI baseUri() {
        String host = config.host().contains(":") ? "[" + config.host() + "]" : config.host();
        return URI.create("http://" + host + ":" + port() + "/v1");
    }

    public ServerConfig config() {
        return config;
    }

    /** Completions queued for a batch, not yet decoding. */
    public int waitingCompletions() {
        return scheduler.waiting();
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitClose() throws InterruptedException {
        closed.await();
    }

    /**
     * Refuses new requests (503), lets those in flight finish (up to the shutdown timeout), then closes the
     * listener and every connection, and stops the scheduler. The generator stays open: it belongs to the
     * caller. The requests are counted here rather than left to {@code HttpServer.stop(delay)}: that waits
     * out the whole delay when a client closes an idle connection as it stops, or holds one half-sent.
     */
    @Override
    public void close() {
        boolean first;
        synchronized (this) {
            first = !closing;
            closing = true;
        }
        if (!first) {  // another thread closes: wait for it, outside the monitor the requests count on
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        try {
            long deadline = System.nanoTime() + config.shutdownTimeout().toNanos();
            synchronized (this) {
                for (long left; inFlight > 0 && (left = deadline - System.nanoTime()) > 0; ) {
                    try {
                        TimeUnit.NANOSECONDS.timedWait(this, left);
                    } catch (InterruptedException e) {  // interrupted: stop now, without waiting further
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            http.stop(0);
            scheduler.close(Duration.ofSeconds(1));
            handlers.shutdownNow();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closed.countDown();
        }
    }

    // ---- routing ----

    private void handle(HttpExchange ex) {
        Response response = new Response(ex);
        synchronized (this) {
            inFlight++;
        }
        try {
            if (closing) throw ApiException.overloaded("the server is shutting down");
            authorize(ex);
            String method = ex.getRequestMethod();
            String path = ex.getRequestURI().getPath();
            if (path.length() > 1 && path.endsWith("/")) path = path.substring(0, path.length() - 1);
            switch (path) {
                case "/v1/models" -> {
                    allow(method, "GET", path);
                    ObjectNode list = JSON.createObjectNode().put("object", "list");
                    list.putArray("data").add(modelObject());
                    response.json(200, list);
                }
                case "/v1/completions" -> {
                    allow(method, "POST", path);
                    complete(response, OpenAiRequest.completion(body(ex, path), generator.tokenizer(), limits));
                }
                case "/v1/chat/completions" -> {
                    allow(method, "POST", path);
                    complete(response, OpenAiRequest.chat(body(ex, path), generator.tokenizer(), limits));
                }
                default -> {
                    if (path.startsWith("/v1/models/")) {
                        allow(method, "GET", path);
                        checkModel(path.substring("/v1/models/".length()));
                        response.json(200, modelObject());
                    } else {
                        throw new ApiException(404, "invalid_request_error", null, "unknown_url",
                                "Invalid URL (" + method + " " + path + ")");
                    }
                }
            }
        } catch (ApiException e) {
            response.error(e);
        } catch (RuntimeException | Error e) {
            System.err.println("gpt4llm serve: internal error on " + ex.getRequestMethod() + " " + ex.getRequestURI().getPath() + ": " + e);
            e.printStackTrace();
            response.error(new ApiException(500, "server_error", null, null, "internal error: " + e));
        } finally {
            ex.close();
            synchronized (this) {
                if (--inFlight == 0) notifyAll();
            }
        }
    }

    private void authorize(HttpExchange ex) {
        if (expectedAuthorization == null) return;
        String given = ex.getRequestHeaders().getFirst("Authorization");
        // constant time, and the key never appears in a message
        if (given == null || !MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expectedAuthorization)) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            throw new ApiException(401, "invalid_request_error", null, "invalid_api_key",
                    given == null ? "no API key given: send the header Authorization: Bearer <key>" : "incorrect API key");
        }
    }

    private static void allow(String method, String allowed, String path) {
        if (!method.equals(allowed)) {
            throw new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                    path + " accepts " + allowed + ", not " + method);
        }
    }

    private ObjectNode modelObject() {
        return JSON.createObjectNode().put("id", config.modelId()).put("object", "model").put("created", created)
                .put("owned_by", "gpt4llm");
    }

    private void checkModel(String model) {
        if (!config.modelId().equals(model)) {
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                    "the model '" + model + "' does not exist; this server serves '" + config.modelId() + "'");
        }
    }

    /** The JSON object of a POST body no larger than {@code --max-body-bytes}, naming the model this server serves. */
    private JsonNode body(HttpExchange ex, String path) {
        int limit = config.maxBodyBytes();
        String length = ex.getRequestHeaders().getFirst("Content-Length");
        if (length != null) {
            try {
                if (Long.parseLong(length.trim()) > limit) throw tooLarge(limit);
            } catch (NumberFormatException e) {
                throw ApiException.invalid(null, "Content-Length '" + length + "' is not a number");
            }
        }
        byte[] bytes;
        try (InputStream in = ex.getRequestBody()) {
            bytes = in.readNBytes(limit + 1);
        } catch (IOException e) {
            throw ApiException.invalid(null, "could not read the request body: " + e.getMessage());
        }
        if (bytes.length > limit) throw tooLarge(limit);
        JsonNode body;
        try {
            body = JSON.readTree(bytes);
        } catch (IOException e) {
            String why = e instanceof JsonProcessingException jpe ? jpe.getOriginalMessage() : e.getMessage();
            throw ApiException.invalid(null, "the body of " + path + " is not valid JSON: " + why);
        }
        if (body == null || !body.isObject()) throw ApiException.invalid(null, "the body of " + path + " must be a JSON object");
        JsonNode model = body.get("model");
        if (model == null || model.isNull()) throw ApiException.invalid("model", "model is required");
        if (!model.isTextual()) throw ApiException.invalid("model", "model must be a string");
        checkModel(model.textValue());
        return body;
    }

    private static ApiException tooLarge(int limit) {
        return new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body is larger than the " + limit + " bytes this server accepts");
    }

    // ---- completions ----

    private void complete(Response response, OpenAiRequest request) {
        List<GenerationRequest> rows = request.rows();
        Collector collector = new Collector(rows.size(), request.stream());
        List<BatchScheduler.Row> queued = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) queued.add(new BatchScheduler.Row(rows.get(i), i, collector));
        scheduler.submit(queued);
        String id = (request.chat() ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
        long now = System.currentTimeMillis() / 1000;
        if (request.stream()) stream(response, request, collector, id, now);
        else response.json(200, whole(request, collector.awaitAll(), id, now));
    }

    private ObjectNode whole(OpenAiRequest request, Completion[] completions, String id, long now) {
        ObjectNode out = header(id, request.chat() ? "chat.completion" : "text_completion", now);
        ArrayNode choices = out.putArray("choices");
        int completionTokens = 0;
        for (int i = 0; i < completions.length; i++) {
            Completion c = completions[i];
            completionTokens += c.tokens().length;
            ObjectNode choice = choices.addObject().put("index", i);
            if (request.chat()) choice.putObject("message").put("role", "assistant").put("content", c.text());
            else choice.put("text", c.text());
            choice.putNull("logprobs");
            choice.put("finish_reason", c.finishReason());
        }
        out.set("usage", usage(request.promptTokens(), completionTokens));
        return out;
    }

    /** Server-sent events: OpenAI's chunk objects, then {@code [DONE]}. A write that fails means the client left. */
    private void stream(Response response, OpenAiRequest request, Collector collector, String id, long now) {
        String object = request.chat() ? "chat.completion.chunk" : "text_completion";
        int rows = request.rows().size();
        try {
            response.startEvents();
            if (request.chat()) {
                for (int i = 0; i < rows; i++) {
                    response.event(chunk(id, object, now, i, true, null, null));
                }
            }
            int completionTokens = 0;
            for (int left = rows; left > 0; ) {
                Event e = collector.events.take();
                switch (e) {
                    case Event.Text t -> response.event(chunk(id, object, now, t.choice(), request.chat(), t.delta(), null));
                    case Event.Done d -> {
                        completionTokens += d.completion().tokens().length;
                        response.event(chunk(id, object, now, d.choice(), request.chat(), null, d.completion().finishReason()));
                        left--;
                    }
                    case Event.Failed f -> {
                        response.event(errorBody(statusOf(f.error()), f.error()));
                        response.done();
                        return;
                    }
                }
            }
            if (request.includeUsage()) {
                ObjectNode last = header(id, object, now);
                last.putArray("choices");
                last.set("usage", usage(request.promptTokens(), completionTokens));
                response.event(last);
            }
            response.done();
        } catch (IOException e) {
            collector.gone = true;  // the client went away: its rows are cancelled at their next token
        } catch (InterruptedException e) {
            collector.gone = true;
            Thread.currentThread().interrupt();
        }
    }

    /**
     * One streamed chunk: for chat, {@code delta} holds the role when {@code role} is set (the first
     * chunk of a choice), the content otherwise, and is empty in the finishing chunk.
     */
    private ObjectNode chunk(String id, String object, long now, int choice, boolean chat, String text, String finishReason) {
        ObjectNode out = header(id, object, now);
        ObjectNode c = out.putArray("choices").addObject().put("index", choice);
        if (chat) {
            ObjectNode delta = c.putObject("delta");
            if (text != null) delta.put("content", text);
            else if (finishReason == null) delta.put("role", "assistant").put("content", "");
        } else {
            c.put("text", text == null ? "" : text);
        }
        c.putNull("logprobs");
        if (finishReason == null) c.putNull("finish_reason");
        else c.put("finish_reason", finishReason);
        return out;
    }

    private ObjectNode header(String id, String object, long now) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", now).put("model", config.modelId());
    }

    private static ObjectNode usage(int promptTokens, int completionTokens) {
        return JSON.createObjectNode().put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
    }

    private static int statusOf(RuntimeException e) {
        return e instanceof ApiException a ? a.status : 500;
    }

    private static ObjectNode errorBody(int status, RuntimeException e) {
        ApiException a = e instanceof ApiException ae ? ae
                : new ApiException(status, "server_error", null, null, "generation failed: " + e);
        ObjectNode out = JSON.createObjectNode();
        ObjectNode err = out.putObject("error").put("message", a.getMessage()).put("type", a.type);
        if (a.param == null) err.putNull("param");
        else err.put("param", a.param);
        if (a.code == null) err.putNull("code");
        else err.put("code", a.code);
        return out;
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return b;
    }

    /** What the scheduler reports about one request's rows, in order. */
    private sealed interface Event {
        record Text(int choice, String delta) implements Event {}

        record Done(int choice, Completion completion) implements Event {}

        record Failed(RuntimeException error) implements Event {}
    }

    /** One request's rows: streamed text goes through the queue, results are collected. */
    private static final class Collector implements BatchScheduler.Sink {
        final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
        final boolean streaming;
        final int rows;
        volatile boolean gone;

        Collector(int rows, boolean streaming) {
            this.rows = rows;
            this.streaming = streaming;
        }

        @Override
        public boolean text(int choice, String delta) {
            if (gone) return false;
            if (streaming && !delta.isEmpty()) events.add(new Event.Text(choice, delta));
            return true;
        }

        @Override
        public void done(int choice, Completion completion) {
            events.add(new Event.Done(choice, completion));
        }

        @Override
        public void failed(int choice, RuntimeException error) {
            events.add(new Event.Failed(error));
        }

        @Override
        public boolean gone() {
            return gone;
        }

        /** Every row's completion, by choice; the first failure is rethrown (500, or its own status). */
        Completion[] awaitAll() {
            Completion[] out = new Completion[rows];
            try {
                for (int left = rows; left > 0; left--) {
                    switch (events.take()) {
                        case Event.Done d -> out[d.choice()] = d.completion();
                        case Event.Failed f -> {
                            gone = true;  // the other rows are of no use any more
                            if (f.error() instanceof ApiException a) throw a;
                            throw new ApiException(500, "server_error", null, null, "generation failed: " + f.error());
                        }
                        case Event.Text t -> left++;  // not queued when not streaming
                    }
                }
            } catch (InterruptedException e) {
                gone = true;
                Thread.currentThread().interrupt();
                throw new ApiException(503, "server_error", null, null, "the server is shutting down");
            }
            return out;
        }
    }

    /** The exchange's answer: JSON once, or a stream of events; errors after the headers went out end the stream. */
    private static final class Response {
        private final HttpExchange ex;
        private OutputStream events;
        private boolean sent;

        Response(HttpExchange ex) {
            this.ex = ex;
        }

        void json(int status, JsonNode body) {
            byte[] bytes;
            try {
                bytes = JSON.writeValueAsBytes(body);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
            sent = true;
            try {
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(status, bytes.length);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(bytes);
                }
            } catch (IOException e) {
                // the client left before its answer: nothing more to do
            }
        }

        void error(ApiException e) {
            if (events != null) {
                try {
                    event(errorBody(e.status, e));
                    done();
                } catch (IOException ignored) {
                    // the client left
                }
            } else if (!sent) {
                json(e.status, errorBody(e.status, e));
            }
        }

        void startEvents() throws IOException {
            sent = true;
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.getResponseHeaders().set("Cache-Control", "no-cache");
            ex.sendResponseHeaders(200, 0);  // chunked
            events = ex.getResponseBody();
        }

        void event(JsonNode data) throws IOException {
            events.write(("data: " + JSON.writeValueAsString(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
            events.flush();
        }

        void done() throws IOException {
            events.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            events.flush();
            events.close();
        }
    }
}
