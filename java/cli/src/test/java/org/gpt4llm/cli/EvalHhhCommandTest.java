package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm eval hhh} on the 80 Vicuna questions: what it refuses, in one sentence each (the page itself is tested in the eval module). */
class EvalHhhCommandTest {
    @TempDir
    Path dir;

    @Test
    void namesTheMissingAnswerAndTheBusyPort() throws Exception {
        Path questions = SharedFiles.get("data/vicuna_question_80.jsonl");
        List<String> a = new ArrayList<>(), b = new ArrayList<>();
        for (int i = 1; i <= 80; i++) {
            a.add("{\"question_id\": " + i + ", \"text\": \"answer " + i + "\", \"model_id\": \"llama-gpt4\"}");
            if (i != 42) b.add("{\"question_id\": " + i + ", \"text\": \"other answer " + i + "\", \"model_id\": \"alpaca\"}");
        }
        Path fa = Files.write(dir.resolve("a.jsonl"), a), fb = Files.write(dir.resolve("b.jsonl"), b);
        Path votes = dir.resolve("votes.jsonl");
        CliRun run = CliRun.of("eval", "hhh", "--questions", questions.toString(), "--a", fa.toString(), "--b", fb.toString(),
                "--votes", votes.toString(), "--port", "0");
        assertEquals(2, run.code());
        assertEquals("gpt4llm eval hhh: " + fb + " has no answer to question 42 of " + questions, run.err().strip());
        assertFalse(Files.exists(votes));

        b.add("{\"question_id\": 42, \"text\": \"late answer\", \"model_id\": \"alpaca\"}");
        Files.write(fb, b);
        int port;
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = busy.getLocalPort();
            run = CliRun.of("eval", "hhh", "--questions", questions.toString(), "--a", fa.toString(), "--b", fb.toString(),
                    "--votes", votes.toString(), "--port", Integer.toString(busy.getLocalPort()));
        }
        assertEquals(2, run.code());
        assertEquals("gpt4llm eval hhh: --port " + port + " is in use on 127.0.0.1; pick another or 0 for any free one", run.err().strip());
        assertFalse(Files.exists(votes), "nothing written before the page could be served");
    }
}
