package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The paper's instruction-tuning step at toy scale, through the commands a user types: a tokenizer
 * and a tiny LLaMA trained from scratch on the GPT-4 Alpaca data (English and Chinese), then full
 * fine-tuning on it; the held-out loss must fall clearly.
 */
class SftEndToEndTest {
    @Test
    void fromScratchModelLearnsTheAlpacaGpt4Data(@TempDir Path dir) throws Exception {
        String data = SharedFiles.get("data/alpaca_gpt4_en_1k.json") + "," + SharedFiles.get("data/alpaca_gpt4_zh_1k.json");
        Path tok = dir.resolve("tok"), base = dir.resolve("base"), run = dir.resolve("run");
        CliRun r = CliRun.of("init-tokenizer", "--data", data, "--vocab", "1000", "--out", tok.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", base.toString(), "--seed", "3");
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("sft", "--model", base.toString(), "--data", data, "--out", run.toString(), "--max-len", "128",
                "--batch", "16", "--micro-batch", "8", "--max-steps", "60", "--lr", "5e-3", "--eval-every", "20",
                "--save-every", "20", "--keep", "1", "--threads", "2", "--quiet");
        assertEquals(0, r.code(), r.out() + r.err());

        for (String f : new String[] {"config.json", "metrics.jsonl", "loss.png", "checkpoint-40", "final/config.json",
                "final/model.safetensors", "final/tokenizer.json"}) {
            assertTrue(Files.exists(run.resolve(f)), f + " missing from the run directory: " + listing(run));
        }
        assertTrue(!Files.exists(run.resolve("checkpoint-20")), "--keep 1 keeps only the newest checkpoint: " + listing(run));
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) lines.add(json.readTree(l));
        assertEquals(60, lines.size());
        double first = JsonChecks.number(lines.get(0), "loss"), start = Math.log(1000);
        assertEquals(start, first, 0.3, "a random-init model starts near the uniform loss ln(vocab)");
        List<Double> eval = new ArrayList<>();
        for (JsonNode n : lines) if (n.has("eval_loss")) eval.add(JsonChecks.number(n, "eval_loss"));
        assertEquals(3, eval.size(), "eval every 20 steps: " + eval);
        double last = eval.get(eval.size() - 1);
        System.out.printf("sft end to end: first train loss %.3f, held-out loss %s%n", first, eval);
        assertTrue(last < first - 0.8, "held-out loss " + last + " did not fall well below the start " + first);
        assertTrue(eval.get(2) < eval.get(0), "held-out loss keeps falling: " + eval);
    }

    @Test
    void userErrorsEndInOneSentence(@TempDir Path dir) throws Exception {
        String data = SharedFiles.get("data/alpaca_gpt4_en_1k.json").toString();
        Path base = dir.resolve("base");
        assertEquals(0, CliRun.of("init-model", "--preset", "tiny", "--vocab", "300", "--out", base.toString()).code());
        CliRun r = CliRun.of("sft", "--model", base.toString(), "--data", data, "--out", dir.resolve("a").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains(base + " has no tokenizer.json"), r.err());

        Path tok = dir.resolve("tok"), withTok = dir.resolve("withTok");
        assertEquals(0, CliRun.of("init-tokenizer", "--data", data, "--vocab", "300", "--out", tok.toString()).code());
        assertEquals(0, CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", withTok.toString()).code());
        r = CliRun.of("sft", "--model", withTok.toString(), "--data", data, "--out", dir.resolve("b").toString(),
                "--lora-rank", "4", "--lora-targets", "q_proj,wq");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--lora-targets: wq is not a linear layer of LLaMA"), r.err());
        r = CliRun.of("sft", "--model", withTok.toString(), "--data", data, "--out", dir.resolve("c").toString(),
                "--max-len", "10", "--strict");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("alpaca_gpt4_en_1k.json:0: prompt of") && r.err().contains("longer than --max-len 10"), r.err());
        assertTrue(r.err().strip().lines().count() == 1, "one sentence: " + r.err());
        Path graphOut = dir.resolve("d");
        r = CliRun.of("sft", "--model", withTok.toString(), "--data", data, "--out", graphOut.toString(), "--cuda-graph");
        assertEquals(2, r.code());
        assertEquals("gpt4llm sft: --cuda-graph needs --backend cuda or cuda-emu; this run uses cpu", r.err().strip());
        assertFalse(Files.exists(graphOut), "nothing written before the refusal");
    }

    private static List<String> listing(Path dir) throws java.io.IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
