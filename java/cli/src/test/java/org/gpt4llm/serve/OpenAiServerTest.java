package org.gpt4llm.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The server over real HTTP, against {@link EchoGenerator} with GPT-2's tokenizer. */
class OpenAiServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "echo-model";
    private static final int CONTEXT = 256;
    private static HfTokenizer tokenizer;

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final List<OpenAiServer> servers = new ArrayList<>();

    @BeforeAll
    static void loadTokenizer() throws IOException {
        tokenizer = Tokenizers.load(SharedFiles.get("models/gpt2-tokenizer"));
    }

    @AfterAll
    static void closeTokenizer() {
        if (tokenizer != null) tokenizer.close();
    }

    @AfterEach
    void closeServers() {
        servers.forEach(OpenAiServer::close);
        client.close();
    }

    private static ServerConfig config() {
        return ServerConfig.defaults(MODEL).withLimits(4096, 64, 100).withShutdownTimeout(Duration.ofSeconds(5));
    }

    private OpenAiServer start(EchoGenerator generator, ServerConfig config) throws IOException {
        OpenAiServer server = OpenAiServer.start(generator, config);
        servers.add(server);
        return server;
    }

    private static EchoGenerator generator(Duration perToken) {
        return new EchoGenerator(tokenizer, CONTEXT, perToken);
    }

    private HttpResponse<String> post(OpenAiServer server, String path, String body) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(server.baseUri() + path))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(OpenAiServer server, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(server.baseUri() + path)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static ObjectNode request(String... fields) {
        ObjectNode o = JSON.createObjectNode().put("model", MODEL);
        for (int i = 0; i < fields.length; i += 2) {
            try {
                o.set(fields[i], JSON.readTree(fields[i + 1]));
            } catch (IOException e) {
                throw new IllegalArgumentException(e);
            }
        }
        return o;
    }

    private static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    private static SamplingParams params(int maxTokens, float temperature, List<String> stop, long seed) {
        return new SamplingParams(maxTokens, temperature, 0, 1f, 1f, stop, true, seed);
    }

    /** The data of each server-sent event, {@code [DONE]} included. */
    private static List<String> events(String body) {
        List<String> data = new ArrayList<>();
        for (String event : body.split("\n\n")) {
            if (event.isBlank()) continue;
            assertTrue(event.startsWith("data: "), "event " + event);
            data.add(event.substring("data: ".length()));
        }
        return data;
    }

    private static void assertError(HttpResponse<String> r, int status, String param, String code) throws IOException {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode error = json(r).get("error");
        assertTrue(error.get("message").isTextual() && !error.get("message").asText().isBlank(), r.body());
        assertTrue(error.get("type").isTextual(), r.body());
        assertEquals(param, error.get("param").isNull() ? null : error.get("param").asText(), r.body());
        assertEquals(code, error.get("code").isNull() ? null : error.get("code").asText(), r.body());
    }

    private static void waitFor(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(5);
        }
    }

    @Test
    void listsTheServedModel() throws Exception {
        OpenAiServer server = start(generator(Duration.ZERO), config());
        HttpResponse<String> r = get(server, "/models");
        assertEquals(200, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElseThrow());
        JsonNode list = json(r);
        assertEquals("list", list.get("object").asText());
        assertEquals(1, list.get("data").size());
        assertEquals(MODEL, list.get("data").get(0).get("id").asText());
        assertEquals("model", list.get("data").get(0).get("object").asText());
        assertEquals(MODEL, json(get(server, "/models/" + MODEL)).get("id").asText());
        assertError(get(server, "/models/other"), 404, "model", "model_not_found");
    }

    @Test
    void completionMatchesTheGeneratorAlone() throws Exception {
        EchoGenerator g = generator(Duration.ZERO);
        OpenAiServer server = start(g, config());
        String prompt = "The quick brown fox jumps over the lazy dog";
        HttpResponse<String> r = post(server, "/completions", request("prompt", JSON.writeValueAsString(prompt),
                "max_tokens", "5", "temperature", "0").toString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        int[] ids = tokenizer.encodeWithBos(prompt);
        Completion expected = g.alone(ids, params(5, 0f, List.of(), 0));
        assertTrue(body.get("id").asText().startsWith("cmpl-"));
        assertEquals("text_completion", body.get("object").asText());
        assertEquals(MODEL, body.get("model").asText());
        assertTrue(body.get("created").asLong() > 1_600_000_000L);
        JsonNode choice = body.get("choices").get(0);
        assertEquals(0, choice.get("index").asInt());
        assertEquals(expected.text(), choice.get("text").asText());
        assertEquals("The quick brown fox jumps", choice.get("text").asText().strip());
        assertEquals("length", choice.get("finish_reason").asText());
        assertTrue(choice.get("logprobs").isNull());
        assertEquals(ids.length, body.get("usage").get("prompt_tokens").asInt());
        assertEquals(5, body.get("usage").get("completion_tokens").asInt());
        assertEquals(ids.length + 5, body.get("usage").get("total_tokens").asInt());
    }

    @Test
    void promptListAndNSampleEveryChoiceWithItsOwnSeed() throws Exception {
        EchoGenerator g = generator(Duration.ZERO);
        OpenAiServer server = start(g, config());
        List<String> prompts = List.of("alpha beta gamma delta epsilon", "one two three four five six seven");
        HttpResponse<String> r = post(server, "/completions", request("prompt", JSON.writeValueAsString(prompts), "n", "3",
                "seed", "11", "max_tokens", "6", "temperature", "0.8").toString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        assertEquals(6, body.get("choices").size());
        int promptTokens = 0, completionTokens = 0;
        List<String> texts = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            int[] ids = tokenizer.encodeWithBos(prompts.get(p));
            promptTokens += ids.length;
            for (int j = 0; j < 3; j++) {
                JsonNode choice = body.get("choices").get(p * 3 + j);
                Completion expected = g.alone(ids, params(6, 0.8f, List.of(), 11 + j));
                assertEquals(p * 3 + j, choice.get("index").asInt());
                assertEquals(expected.text(), choice.get("text").asText());
                completionTokens += expected.tokens().length;
                texts.add(choice.get("text").asText());
            }
        }
        assertNotEquals(texts.get(0), texts.get(1), "seeds 11 and 12 should sample differently");
        assertEquals(promptTokens, body.get("usage").get("prompt_tokens").asInt());
        assertEquals(completionTokens, body.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void stopStringEndsTheText() throws Exception {
        EchoGenerator g = generator(Duration.ZERO);
        OpenAiServer server = start(g, config());
        String prompt = "red green blue yellow purple";
        HttpResponse<String> r = post(server, "/completions", request("prompt", JSON.writeValueAsString(prompt),
                "max_tokens", "20", "temperature", "0", "stop", "[\" blue\", \"zzz\"]").toString());
        JsonNode choice = json(r).get("choices").get(0);
        assertEquals("red green", choice.get("text").asText());
        assertEquals("stop", choice.get("finish_reason").asText());
        assertEquals(g.alone(tokenizer.encodeWithBos(prompt), params(20, 0f, List.of(" blue", "zzz"), 0)).tokens().length,
                json(r).get("usage").get("completion_tokens").asInt());
    }

    @Test
    void chatCompletionRendersTheChatTemplate() throws Exception {
        EchoGenerator g = generator(Duration.ZERO);
        OpenAiServer server = start(g, config());
        String messages = """
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color."},
                 {"role": "assistant", "content": "Red."}, {"role": "user", "content": [{"type": "text", "text": "Another?"}]}]""";
        HttpResponse<String> r = post(server, "/chat/completions", request("messages", messages, "max_tokens", "12",
                "temperature", "0").toString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        int[] ids = ChatPrompt.encode(tokenizer, List.of(new ChatPrompt.Message("system", "Be brief."),
                new ChatPrompt.Message("user", "Name a color."), new ChatPrompt.Message("assistant", "Red."),
                new ChatPrompt.Message("user", "Another?")));
        Completion expected = g.alone(ids, params(12, 0f, List.of(), 0));
        assertTrue(body.get("id").asText().startsWith("chatcmpl-"));
        assertEquals("chat.completion", body.get("object").asText());
        JsonNode choice = body.get("choices").get(0);
        assertEquals("assistant", choice.get("message").get("role").asText());
        assertEquals(expected.text(), choice.get("message").get("content").asText());
        String content = choice.get("message").get("content").asText();
        assertTrue(content.length() > 10 && "Be brief.\n\n### Human:\nName a color.".startsWith(content), content);
        assertEquals("length", choice.get("finish_reason").asText());
        assertEquals(ids.length, body.get("usage").get("prompt_tokens").asInt());
        assertEquals(12, body.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void streamedCompletionConcatenatesToThePlainOne() throws Exception {
        OpenAiServer server = start(generator(Duration.ofMillis(1)), config());
        ObjectNode req = request("prompt", "\"Streaming sends the text in pieces as it is generated\"", "max_tokens", "9",
                "temperature", "0.7", "seed", "5", "n", "2", "stop", "\" it\"");
        JsonNode whole = json(post(server, "/completions", req.toString()));
        req.put("stream", true).set("stream_options", JSON.readTree("{\"include_usage\": true}"));
        HttpResponse<String> r = post(server, "/completions", req.toString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("text/event-stream", r.headers().firstValue("Content-Type").orElseThrow());
        List<String> data = events(r.body());
        assertEquals("[DONE]", data.getLast());
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder()};
        String[] finish = new String[2];
        JsonNode usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            assertEquals("text_completion", chunk.get("object").asText());
            assertTrue(chunk.get("id").asText().startsWith("cmpl-"));
            if (chunk.get("choices").isEmpty()) {
                usage = chunk.get("usage");
                continue;
            }
            JsonNode c = chunk.get("choices").get(0);
            int i = c.get("index").asInt();
            assertTrue(finish[i] == null, "text after the finishing chunk");
            texts[i].append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) finish[i] = c.get("finish_reason").asText();
        }
        for (int i = 0; i < 2; i++) {
            assertEquals(whole.get("choices").get(i).get("text").asText(), texts[i].toString());
            assertEquals(whole.get("choices").get(i).get("finish_reason").asText(), finish[i]);
        }
        assertEquals(whole.get("usage"), usage);
    }

    @Test
    void streamedChatSendsRoleThenContentThenFinish() throws Exception {
        OpenAiServer server = start(generator(Duration.ofMillis(1)), config());
        ObjectNode req = request("messages", "[{\"role\": \"user\", \"content\": \"Tell me a story about a robot.\"}]",
                "max_tokens", "10", "temperature", "0");
        String whole = json(post(server, "/chat/completions", req.toString())).get("choices").get(0).get("message").get("content").asText();
        req.put("stream", true);
        List<String> data = events(post(server, "/chat/completions", req.toString()).body());
        assertEquals("[DONE]", data.getLast());
        List<JsonNode> chunks = new ArrayList<>();
        for (String d : data.subList(0, data.size() - 1)) chunks.add(JSON.readTree(d));
        assertEquals("assistant", chunks.getFirst().get("choices").get(0).get("delta").get("role").asText());
        StringBuilder text = new StringBuilder();
        for (JsonNode chunk : chunks.subList(1, chunks.size() - 1)) {
            assertEquals("chat.completion.chunk", chunk.get("object").asText());
            JsonNode c = chunk.get("choices").get(0);
            assertTrue(c.get("finish_reason").isNull());
            text.append(c.get("delta").get("content").asText());
        }
        assertTrue(chunks.size() > 3, "the text should come in several deltas");
        assertEquals(whole, text.toString());
        JsonNode last = chunks.getLast().get("choices").get(0);
        assertEquals("length", last.get("finish_reason").asText());
        assertTrue(last.get("delta").isEmpty());
    }

    @Test
    void concurrentClientsAreBatchedAndEachGetsItsOwnAnswer() throws Exception {
        EchoGenerator g = generator(Duration.ofMillis(3));
        OpenAiServer server = start(g, config().withBatching(8, 64, Duration.ofMillis(5)));
        int clients = 16;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<HttpResponse<String>>> answers = new ArrayList<>();
            List<String> prompts = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                String prompt = "client number " + c + " asks about topic " + (c * 7919 % 113);
                prompts.add(prompt);
                boolean chat = c % 2 == 1;
                String body = chat
                        ? request("messages", JSON.writeValueAsString(List.of(java.util.Map.of("role", "user", "content", prompt))),
                                "max_tokens", "8", "temperature", "0").toString()
                        : request("prompt", JSON.writeValueAsString(prompt), "max_tokens", "8", "temperature", "0").toString();
                answers.add(pool.submit(() -> post(server, chat ? "/chat/completions" : "/completions", body)));
            }
            for (int c = 0; c < clients; c++) {
                HttpResponse<String> r = answers.get(c).get();
                assertEquals(200, r.statusCode(), r.body());
                JsonNode choice = json(r).get("choices").get(0);
                boolean chat = c % 2 == 1;
                int[] ids = chat ? ChatPrompt.encode(tokenizer, List.of(new ChatPrompt.Message("user", prompts.get(c))))
                        : tokenizer.encodeWithBos(prompts.get(c));
                String expected = g.alone(ids, params(8, 0f, List.of(), 0)).text();
                assertEquals(expected, chat ? choice.get("message").get("content").asText() : choice.get("text").asText());
            }
        }
        assertEquals(clients, g.batchSizes.stream().mapToInt(Integer::intValue).sum());
        assertTrue(g.batchSizes.stream().anyMatch(s -> s > 1), "no batch held more than one request: " + g.batchSizes);
        assertTrue(g.batchSizes.stream().allMatch(s -> s <= 8), "a batch exceeded --max-batch: " + g.batchSizes);
    }

    @Test
    void badRequestsGetOpenAiErrors() throws Exception {
        OpenAiServer server = start(generator(Duration.ZERO), config());
        assertError(post(server, "/completions", "{\"model\": \"echo-model\", \"prompt\": "), 400, null, null);
        assertError(post(server, "/completions", "[1, 2]"), 400, null, null);
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "max_tokens", "\"ten\"").toString()), 400, "max_tokens", null);
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "temperature", "3").toString()), 400, "temperature", "invalid_value");
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "stop", "7").toString()), 400, "stop", null);
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "logprobs", "2").toString()), 400, "logprobs", "unsupported_parameter");
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "echo", "true").toString()), 400, "echo", "unsupported_parameter");
        assertError(post(server, "/completions", request().toString()), 400, "prompt", null);
        assertError(post(server, "/chat/completions", request("messages", "[{\"role\": \"wizard\", \"content\": \"x\"}]").toString()),
                400, "messages[0].role", "invalid_value");
        assertError(post(server, "/chat/completions", request("messages", "[{\"role\": \"user\", \"content\": \"x\"}]",
                "logprobs", "true").toString()), 400, "logprobs", "unsupported_parameter");
        ObjectNode otherModel = request("prompt", "\"hi\"").put("model", "gpt-4");
        assertError(post(server, "/completions", otherModel.toString()), 404, "model", "model_not_found");
        assertError(get(server, "/completions"), 405, null, "method_not_allowed");
        assertError(post(server, "/models", "{}"), 405, null, "method_not_allowed");
        assertError(get(server, "/embeddings"), 404, null, "unknown_url");
    }

    @Test
    void limitsAreEnforced() throws Exception {
        OpenAiServer server = start(generator(Duration.ZERO), config());  // 4096 bytes, 64 prompt tokens, 100 new tokens
        String big = "x".repeat(5000);
        assertError(post(server, "/completions", request("prompt", JSON.writeValueAsString(big)).toString()), 413, null, "request_too_large");
        String longPrompt = "word ".repeat(70);  // 71 tokens with BOS
        assertError(post(server, "/completions", request("prompt", JSON.writeValueAsString(longPrompt)).toString()),
                400, "prompt", "context_length_exceeded");
        assertError(post(server, "/chat/completions", request("messages",
                JSON.writeValueAsString(List.of(java.util.Map.of("role", "user", "content", longPrompt)))).toString()),
                400, "messages", "context_length_exceeded");
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "max_tokens", "101").toString()), 400, "max_tokens", "invalid_value");
        assertEquals(200, post(server, "/completions", request("prompt", JSON.writeValueAsString("word ".repeat(62)),
                "max_tokens", "100").toString()).statusCode(), "a prompt at the limit is accepted");
        assertError(post(server, "/completions", request("prompt", "\"hi\"", "n", "65").toString()), 400, "n", "invalid_value");
    }

    @Test
    void fullQueueAnswers503() throws Exception {
        EchoGenerator g = generator(Duration.ofMillis(20));
        OpenAiServer server = start(g, config().withBatching(1, 2, Duration.ZERO));
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            String slow = request("prompt", "\"a slow request that holds the generator\"", "max_tokens", "30").toString();
            Future<HttpResponse<String>> first = pool.submit(() -> post(server, "/completions", slow));
            waitFor(() -> g.steps.get() > 0, "the first request to start decoding");
            Future<HttpResponse<String>> queued = pool.submit(() -> post(server, "/completions",
                    request("prompt", "\"two rows fill the queue\"", "n", "2", "max_tokens", "2").toString()));
            waitFor(() -> server.waitingCompletions() == 2, "the two rows to reach the queue");
            assertError(post(server, "/completions", request("prompt", "\"one too many\"").toString()), 503, null, "server_overloaded");
            assertEquals(200, first.get().statusCode());
            assertEquals(200, queued.get().statusCode());
        }
    }

    @Test
    void generatorFailureIs500AndTheServerKeepsServing() throws Exception {
        OpenAiServer server = start(generator(Duration.ZERO), config());
        HttpResponse<String> r = post(server, "/completions", request("prompt", JSON.writeValueAsString(EchoGenerator.FAIL)).toString());
        assertError(r, 500, null, null);
        assertEquals("server_error", json(r).get("error").get("type").asText());
        assertEquals(200, post(server, "/completions", request("prompt", "\"still here\"").toString()).statusCode());
    }

    @Test
    void clientThatLeavesMidStreamIsCancelledAndOthersAreServed() throws Exception {
        EchoGenerator g = generator(Duration.ofMillis(10));
        OpenAiServer server = start(g, config().withBatching(8, 64, Duration.ofMillis(300)));  // long enough for both to meet
        String leaving = "a long story that the client will not wait for";
        String staying = "a neighbour in the same batch reads to the end";
        String body = request("prompt", JSON.writeValueAsString(leaving), "max_tokens", "100", "stream", "true").toString();
        // a raw socket, so that closing it really drops the connection
        CompletableFuture<HttpResponse<String>> neighbour;
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(bytes);
            out.flush();
            neighbour = CompletableFuture.supplyAsync(() -> {
                try {
                    return post(server, "/completions", request("prompt", JSON.writeValueAsString(staying), "max_tokens", "30",
                            "temperature", "0", "stream", "true").toString());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            assertTrue(in.readLine().startsWith("HTTP/1.1 200"));
            int events = 0;
            for (String line; events < 3 && (line = in.readLine()) != null; ) if (line.contains("data: {")) events++;
            assertEquals(3, events);
        }
        waitFor(() -> g.completions.stream().anyMatch(c -> c.finishReason().equals("cancelled")), "the row to be cancelled");
        Completion cancelled = g.completions.stream().filter(c -> c.finishReason().equals("cancelled")).findFirst().orElseThrow();
        assertTrue(cancelled.tokens().length < 100, "the row ran to the end: " + cancelled.tokens().length + " tokens");
        StringBuilder text = new StringBuilder();
        for (String d : events(neighbour.get().body())) {
            if (!d.equals("[DONE]")) text.append(JSON.readTree(d).get("choices").get(0).get("text").asText());
        }
        assertEquals(g.alone(tokenizer.encodeWithBos(staying), params(30, 0f, List.of(), 0)).text(), text.toString());
        assertTrue(g.batchSizes.contains(2), "the two requests were not decoded together: " + g.batchSizes);
        HttpResponse<String> next = post(server, "/completions", request("prompt", "\"next please\"", "max_tokens", "3").toString());
        assertEquals(200, next.statusCode(), next.body());
        assertEquals("length", json(next).get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void closeFinishesTheRequestInFlight() throws Exception {
        EchoGenerator g = generator(Duration.ofMillis(20));
        OpenAiServer server = start(g, config());
        String prompt = "shutting down gracefully means finishing this answer first";
        CompletableFuture<HttpResponse<String>> inFlight = CompletableFuture.supplyAsync(() -> {
            try {
                return post(server, "/completions", request("prompt", JSON.writeValueAsString(prompt), "max_tokens", "20",
                        "temperature", "0").toString());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        waitFor(() -> g.steps.get() > 0, "decoding to begin");
        long start = System.nanoTime();
        server.close();
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(4).toNanos(), "close waited for the full timeout");
        HttpResponse<String> r = inFlight.get();
        assertEquals(200, r.statusCode(), r.body());
        JsonNode choice = json(r).get("choices").get(0);
        assertEquals(g.alone(tokenizer.encodeWithBos(prompt), params(20, 0f, List.of(), 0)).text(), choice.get("text").asText());
        assertEquals("length", choice.get("finish_reason").asText());
        assertThrows(IOException.class, () -> get(server, "/models"), "the server still accepts connections");
    }

    /**
     * A client that sent half a request, or that closes an idle keep-alive connection as the server stops, is
     * no request in flight: close() must not wait out the shutdown timeout (5 s here) for it, as
     * {@code HttpServer.stop(delay)} does.
     */
    @Test
    void closeDoesNotWaitForAHalfSentRequest() throws Exception {
        EchoGenerator g = generator(Duration.ofMillis(20));
        OpenAiServer server = start(g, config());
        assertEquals(200, get(server, "/models").statusCode());
        try (Socket half = new Socket(config().host(), server.port())) {
            OutputStream out = half.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Thread.sleep(200);  // the server has taken the connection and waits for the rest of the headers
            long start = System.nanoTime();
            server.close();
            long took = System.nanoTime() - start;
            assertTrue(took < Duration.ofSeconds(2).toNanos(), "close waited " + took / 1_000_000 + " ms for a half-sent request");
        }
        assertThrows(IOException.class, () -> get(server, "/models"), "the server still accepts connections");
    }

    /** While close() lets a request finish, a new one is refused with a 503 (OpenAI clients retry those). */
    @Test
    void aRequestArrivingWhileCloseDrainsIsRefused() throws Exception {
        EchoGenerator g = generator(Duration.ofMillis(20));
        OpenAiServer server = start(g, config());
        CompletableFuture<HttpResponse<String>> inFlight = CompletableFuture.supplyAsync(() -> {
            try {
                return post(server, "/completions", request("prompt", "\"a long answer\"", "max_tokens", "40").toString());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        waitFor(() -> g.steps.get() > 0, "decoding to begin");
        CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
        HttpResponse<String> refused = null;
        while (refused == null && !inFlight.isDone()) {
            HttpResponse<String> r = get(server, "/models");  // 200 until close() has begun
            if (r.statusCode() != 200) refused = r;
        }
        assertTrue(refused != null, "no request was refused while the one in flight finished");
        assertError(refused, 503, null, "server_overloaded");
        assertTrue(refused.body().contains("shutting down"), refused.body());
        assertEquals(200, inFlight.get().statusCode(), inFlight.get().body());
        closing.get();
    }

    @Test
    void apiKeyIsRequiredWhenConfigured() throws Exception {
        String key = "sk-test-" + System.nanoTime();
        OpenAiServer server = start(generator(Duration.ZERO), config().withApiKey(key));
        HttpResponse<String> none = get(server, "/models");
        assertError(none, 401, null, "invalid_api_key");
        HttpResponse<String> wrong = client.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/models"))
                .header("Authorization", "Bearer nope").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertError(wrong, 401, null, "invalid_api_key");
        assertFalse(wrong.body().contains(key) || none.body().contains(key));
        HttpResponse<String> right = client.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/models"))
                .header("Authorization", "Bearer " + key).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, right.statusCode());
        assertFalse(server.config().toString().contains(key));
        ArrayNode data = (ArrayNode) json(right).get("data");
        assertEquals(MODEL, data.get(0).get("id").asText());
    }
}
