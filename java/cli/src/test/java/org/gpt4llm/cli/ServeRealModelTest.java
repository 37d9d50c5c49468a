package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TextGenerator;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.serve.OpenAiServer;
import org.gpt4llm.serve.ServerConfig;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve} over a real pretrained model (stories260K, imported from its GGUF) and the KV-cache
 * generator: greedy completions over HTTP, streamed or not and from concurrent clients batched
 * together, are the text the generator gives for the same prompt on its own.
 */
class ServeRealModelTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void servesTheModelsOwnGreedyText(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("stories260K");
        CliRun r = CliRun.of("import-gguf", SharedFiles.get("models/stories260K.gguf").toString(), "--out", model.toString());
        assertEquals(0, r.code(), r.err());
        String[] prompts = {"Once upon a time", "Tom had a red ball", "The cat was sad because", "Lily went to the park"};
        try (var gen = (TextGenerator & AutoCloseable) ServeCommand.openGenerator(model, null, "cpu", 2, 4)) {
            // what the generator says on its own, prompt by prompt (BOS first, as the server encodes text)
            List<String> expected = new ArrayList<>();
            for (String p : prompts) {
                int[] ids = gen.tokenizer().encode(p);
                int[] withBos = new int[ids.length + 1];
                withBos[0] = gen.tokenizer().bosId();
                System.arraycopy(ids, 0, withBos, 1, ids.length);
                Completion c = gen.generate(List.of(new GenerationRequest(withBos, SamplingParams.greedy(24))),
                        TokenListener.NONE).getFirst();
                expected.add(c.text());
            }
            try (OpenAiServer server = OpenAiServer.start(gen, ServerConfig.defaults("stories260K"))) {
                HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
                for (String p : prompts) {
                    String body = JSON.writeValueAsString(java.util.Map.of("model", "stories260K", "prompt", p,
                            "max_tokens", 24, "temperature", 0));
                    calls.add(client.sendAsync(post(server, "/completions", body), HttpResponse.BodyHandlers.ofString()));
                }
                for (int i = 0; i < prompts.length; i++) {
                    HttpResponse<String> resp = calls.get(i).get();
                    assertEquals(200, resp.statusCode(), resp.body());
                    JsonNode n = JSON.readTree(resp.body());
                    assertEquals(expected.get(i), JsonChecks.text(JsonChecks.element(JsonChecks.required(n, "choices"), 0), "text"), "prompt " + prompts[i]);
                    assertTrue(JsonChecks.integer(JsonChecks.required(n, "usage"), "completion_tokens") > 0, resp.body());
                }
                System.out.println("served stories260K: " + prompts[0] + expected.getFirst());

                String body = JSON.writeValueAsString(java.util.Map.of("model", "stories260K", "prompt", prompts[0],
                        "max_tokens", 24, "temperature", 0, "stream", true));
                HttpResponse<String> streamed = client.send(post(server, "/completions", body), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, streamed.statusCode(), streamed.body());
                StringBuilder text = new StringBuilder();
                for (String line : streamed.body().split("\n")) {
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
                    text.append(JsonChecks.text(JsonChecks.element(JsonChecks.required(JSON.readTree(line.substring(6)), "choices"), 0), "text"));
                }
                assertEquals(expected.getFirst(), text.toString(), "streamed deltas add up to the same text");
            }
        }
    }

    private static HttpRequest post(OpenAiServer server, String path, String body) {
        return HttpRequest.newBuilder(URI.create(server.baseUri() + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }
}
