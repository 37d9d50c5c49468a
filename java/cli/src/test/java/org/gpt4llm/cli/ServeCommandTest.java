package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm serve}'s flags: bad ones are one sentence naming the flag (the server itself is tested in serve/). */
class ServeCommandTest {
    @Test
    void modelFolderWithoutConfigIsOneSentence(@TempDir Path dir) {
        CliRun run = CliRun.of("serve", "--model", dir.toString(), "--port", "0");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--model " + dir + " is not a model folder (it has no config.json)"), run.err());
        assertEquals(1, run.err().strip().lines().count(), run.err());
    }

    @Test
    void unsetApiKeyVariableIsOneSentence(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{}");
        String variable = "GPT4LLM_TEST_UNSET_KEY_" + System.nanoTime();
        CliRun run = CliRun.of("serve", "--model", dir.toString(), "--api-key-env", variable);
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--api-key-env " + variable + " names an unset or empty variable"), run.err());
    }

    @Test
    void badLimitsNameTheirFlag(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{}");
        CliRun run = CliRun.of("serve", "--model", dir.toString(), "--max-batch", "0");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--max-batch must be positive, got 0"), run.err());
        run = CliRun.of("serve", "--model", dir.toString(), "--port", "70000");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--port must be in 0..65535"), run.err());
    }
}
