package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.gpt4llm.generate.TextGenerator;
import org.gpt4llm.serve.OpenAiServer;
import org.gpt4llm.serve.ServerConfig;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code datagen alpaca} end to end against {@code gpt4llm serve} as the teacher: stories260K behind
 * the OpenAI-compatible server answers the first 20 of the real Alpaca-GPT4 instructions, the same
 * command again skips them and answers the next 20, and the export is those 40 in input order.
 */
class DatagenServeEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void alpacaAgainstServe(@TempDir Path dir) throws Exception {
        Path data = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        Path model = dir.resolve("stories260K");
        CliRun imported = CliRun.of("import-gguf", SharedFiles.get("models/stories260K.gguf").toString(), "--out", model.toString());
        assertEquals(0, imported.code(), imported.err());
        Path out = dir.resolve("alpaca_gpt4.jsonl");
        Path export = dir.resolve("alpaca_gpt4_data.json");
        try (var gen = (TextGenerator & AutoCloseable) ServeCommand.openGenerator(model, null, "cpu", 2, 4);
                OpenAiServer server = OpenAiServer.start(gen, ServerConfig.defaults("stories260K"))) {
            String[] args = {"datagen", "alpaca", "--in", data.toString(), "--out", out.toString(), "--limit", "20",
                    "--api-base", server.baseUri().toString(), "--model", "stories260K", "--api-key-env", "GPT4LLM_TEST_NO_KEY",
                    "--concurrency", "4", "--max-tokens", "24", "--temperature", "0", "--quiet", "--export", export.toString()};
            CliRun r = CliRun.of(args);
            assertEquals(0, r.code(), r.out() + r.err());
            assertTrue(r.out().contains("alpaca: 20 done this run, 0 already done, 0 failed, 979 left of 999 items"), r.out());

            CliRun again = CliRun.of(args);
            assertEquals(0, again.code(), again.out() + again.err());
            assertTrue(again.out().contains("alpaca: 20 done this run, 20 already done"), again.out());
        }
        List<String> lines = Files.readAllLines(out);
        assertEquals(40, lines.size());
        // each run's usage and cost, appended, and summed up on the console
        List<String> usage = Files.readAllLines(DatagenCommand.usageFile(out));
        assertEquals(2, usage.size(), "one usage line per run");
        JsonNode run = JSON.readTree(usage.getFirst());
        assertEquals(20, JsonChecks.integer(run, "answered"), run.toString());
        assertTrue(JsonChecks.integer(run, "completion_tokens") > 0 && JsonChecks.number(run, "cost_usd") > 0, run.toString());
        Set<String> keys = new HashSet<>();
        for (String line : lines) assertTrue(keys.add(JSON.readTree(line).get("key").asText()), "key written twice: " + line);

        JsonNode input = JSON.readTree(data.toFile());
        JsonNode released = JSON.readTree(export.toFile());
        assertEquals(40, released.size());
        for (int i = 0; i < released.size(); i++) {
            assertEquals(input.get(i).get("instruction"), released.get(i).get("instruction"), "record " + i);
            assertEquals(input.get(i).get("input"), released.get(i).get("input"), "record " + i);
            assertTrue(!released.get(i).get("output").asText().isEmpty(), "record " + i + " has the server's answer");
        }
    }
}
