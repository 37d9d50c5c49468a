package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A LoRA reward model through the commands a user types: {@code rm --lora-rank} (with
 * {@code --recompute}) on a tiny OPT trains its adapters and value head on real chosen/rejected pairs
 * (the training loss falls), writes an adapter folder naming its base, which {@code rm score} loads
 * and scores with; resuming from a checkpoint reads the adapters and the head back.
 */
class RmLoraEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void loraRewardModelTrainsSavesAndScores() throws Exception {
        Path base = dir.resolve("opt-tiny");
        CliRun r = CliRun.of("init-model", "--arch", "opt", "--preset", "tiny", "--tokenizer",
                SharedFiles.get("models/opt-tokenizer-roberta").toString(), "--out", base.toString(), "--seed", "5");
        assertEquals(0, r.code(), r.out() + r.err());
        Path run = dir.resolve("rm-lora");
        r = CliRun.of("rm", "--model", base.toString(), "--data", SharedFiles.get("data/preference_pairs_en.json").toString(),
                "--out", run.toString(), "--max-len", "96", "--epochs", "2", "--lr", "5e-3", "--batch", "16",
                "--micro-batch", "8", "--eval-fraction", "0.1", "--eval-every", "20", "--save-every", "10", "--keep", "1",
                "--lora-rank", "8", "--lora-alpha", "16", "--lora-targets", "q_proj,v_proj,fc1,fc2", "--recompute",
                "--threads", "2", "--quiet");
        assertEquals(0, r.code(), r.out() + r.err());

        List<Double> losses = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(l);
            if (n.has("loss")) losses.add(JsonChecks.number(n, "loss"));
        }
        int k = Math.max(1, losses.size() / 5);
        double first = losses.subList(0, k).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double last = losses.subList(losses.size() - k, losses.size()).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        System.out.printf("LoRA rm end to end: training loss %.4f -> %.4f over %d steps%n", first, last, losses.size());
        assertTrue(last < first, "training loss " + first + " -> " + last);

        Path fin = run.resolve("final");
        assertFalse(Files.exists(fin.resolve("config.json")), "the final folder is an adapter, not a whole model");
        assertTrue(Files.exists(fin.resolve("tokenizer.json")));
        JsonNode ac = JSON.readTree(fin.resolve("adapter_config.json").toFile());
        assertEquals("SEQ_CLS", JsonChecks.text(ac, "task_type"));
        assertEquals("[\"score\"]", JsonChecks.required(ac, "modules_to_save").toString());
        assertEquals(base.toAbsolutePath().normalize().toString(), JsonChecks.text(ac, "base_model_name_or_path"));
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(fin.resolve("adapter_model.safetensors"), arena);
            assertTrue(st.contains("base_model.model.score.weight"), "the value head is saved in full");
            assertEquals(1 + 2 * 4 * 2, st.names().size(), "the head and A, B of 4 targets in 2 layers: " + st.names());
        }

        Path cmp = dir.resolve("comparison.json"), scored = dir.resolve("scored.json");
        Files.writeString(cmp, """
                [{"user_input": "Give three tips for staying healthy.", "responses_and_scores": [
                   {"response": "Eat well, sleep enough and move every day.", "score": 9, "source": "gpt4"},
                   {"response": "Tips.", "score": 2, "source": "icm-1.3b"}]}]
                """);
        r = CliRun.of("rm", "score", "--model", fin.toString(), "--data", cmp.toString(), "--out", scored.toString(),
                "--max-len", "96", "--threads", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        double[] rewards = new double[2];
        int i = 0;
        for (JsonNode resp : JsonChecks.nonEmptyArray(JSON.readTree(scored.toFile()).get(0), "responses_and_scores")) {
            rewards[i++] = JsonChecks.number(resp, "reward");
        }
        assertTrue(rewards[0] != rewards[1], "the adapters and head give the responses different rewards");

        // resuming a finished run's last checkpoint reads the adapters and the head back
        try (var files = Files.walk(fin)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        r = CliRun.of("rm", "--model", base.toString(), "--data", SharedFiles.get("data/preference_pairs_en.json").toString(),
                "--out", run.toString(), "--max-len", "96", "--epochs", "2", "--lr", "5e-3", "--batch", "16",
                "--micro-batch", "8", "--eval-fraction", "0.1", "--eval-every", "20", "--save-every", "10", "--keep", "1",
                "--lora-rank", "8", "--lora-alpha", "16", "--lora-targets", "q_proj,v_proj,fc1,fc2",
                "--threads", "2", "--quiet", "--resume");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(Files.exists(fin.resolve("adapter_model.safetensors")), "the resumed run wrote its final adapter");
    }
}
