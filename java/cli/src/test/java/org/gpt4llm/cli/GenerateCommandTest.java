package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.lang.foreign.Arena;
import java.util.Random;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.generate.Questions;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm generate} end to end on a tiny random LLaMA with a tokenizer trained on Alpaca data:
 * the Vicuna questions answered as FastChat records, greedy determinism, a killed run resumed, seeds
 * that fix sampled text whatever the batch, and best-of-n ranked by a reward model.
 */
class GenerateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path base;
    static String vicuna;

    @BeforeAll
    static void tinyModel() {
        String data = SharedFiles.get("data/alpaca_gpt4_en_1k.json").toString();
        vicuna = SharedFiles.get("data/vicuna_question_80.jsonl").toString();
        Path tok = dir.resolve("tok");
        base = dir.resolve("base");
        CliRun r = CliRun.of("init-tokenizer", "--data", data, "--vocab", "600", "--out", tok.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", base.toString(), "--seed", "4");
        assertEquals(0, r.code(), r.out() + r.err());
    }

    static CliRun generate(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", base.toString(), "--questions", vicuna,
                "--out", out.toString(), "--max-new-tokens", "12", "--threads", "2"));
        args.addAll(List.of(more));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        return r;
    }

    static List<JsonNode> records(Path file) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(file)) out.add(JSON.readTree(l));
        return out;
    }

    static List<String> texts(List<JsonNode> records) {
        return records.stream().map(n -> JsonChecks.text(n, "question_id") + "=" + JsonChecks.text(n, "text")).toList();
    }

    @Test
    void greedyAnswersAreFastChatRecordsAndResume() throws Exception {
        Path out = dir.resolve("greedy.jsonl");
        generate(out, "--limit", "5", "--temperature", "0", "--batch", "3", "--model-id", "tiny-llama");
        List<JsonNode> recs = records(out);
        assertEquals(5, recs.size());
        for (int i = 0; i < 5; i++) {
            JsonNode n = recs.get(i);
            assertEquals(i + 1, JsonChecks.integer(n, "question_id"), "Vicuna ids, in file order");
            assertTrue(JsonChecks.required(n, "question_id").isInt(), "ids keep their JSON type");
            assertTrue(JsonChecks.text(n, "answer_id").matches("[2-9A-HJ-NP-Za-km-z]{22}"), n.toString());
            assertEquals("tiny-llama", JsonChecks.text(n, "model_id"));
            assertTrue(JsonChecks.required(n, "text").isTextual() && JsonChecks.required(n, "tstamp").isNumber(), n.toString());
            JsonNode m = JsonChecks.required(n, "metadata");
            assertEquals(0.0, JsonChecks.number(m, "temperature"));
            assertEquals(12, JsonChecks.integer(m, "max_new_tokens"));
            assertTrue(Set.of("stop", "length").contains(JsonChecks.text(m, "finish_reason")), m.toString());
            assertTrue(JsonChecks.integer(m, "tokens") <= 12 && JsonChecks.integer(m, "prompt_tokens") > 10, m.toString());
        }
        assertTrue(recs.stream().anyMatch(n -> !JsonChecks.text(n, "text").isEmpty()), "a random model still says something");

        // greedy is deterministic, whatever the batch
        Path again = dir.resolve("greedy-again.jsonl");
        generate(again, "--limit", "5", "--temperature", "0", "--batch", "2");
        assertEquals(texts(recs), texts(records(again)));

        // a run killed in the middle of writing its third record: resumed, nothing lost, nothing twice
        Path killed = dir.resolve("killed.jsonl");
        List<String> lines = Files.readAllLines(out);
        String cut = lines.get(0) + "\n" + lines.get(1) + "\n" + lines.get(2).substring(0, lines.get(2).length() / 2);
        Files.writeString(killed, cut, StandardCharsets.UTF_8);
        CliRun r = generate(killed, "--limit", "5", "--temperature", "0", "--batch", "3");
        assertTrue(r.out().contains("5 questions, 2 already answered"), r.out());
        List<JsonNode> resumed = records(killed);
        assertEquals(texts(recs), texts(resumed), "every id once, in order, with the same answers");
        assertEquals(JsonChecks.required(recs.get(0), "answer_id"), JsonChecks.required(resumed.get(0), "answer_id"), "finished records are kept as they were");
        // and a finished file has nothing left to do
        r = generate(killed, "--limit", "5", "--temperature", "0");
        assertTrue(r.out().contains("0 to go"), r.out());
        assertEquals(5, records(killed).size());
    }

    @Test
    void aSeedFixesSampledTextWhateverTheBatch() throws Exception {
        Path a = dir.resolve("a.jsonl"), b = dir.resolve("b.jsonl"), c = dir.resolve("c.jsonl");
        String[] sampling = {"--limit", "4", "--temperature", "1", "--top-p", "0.95", "--top-k", "50",
                "--repetition-penalty", "1.2"};
        generate(a, concat(sampling, "--seed", "3", "--batch", "4"));
        generate(b, concat(sampling, "--seed", "3", "--batch", "1"));
        generate(c, concat(sampling, "--seed", "4", "--batch", "4"));
        assertEquals(texts(records(a)), texts(records(b)));
        assertFalse(texts(records(a)).equals(texts(records(c))), "another seed samples other text");
        assertEquals(1.2, JsonChecks.number(JsonChecks.required(records(a).getFirst(), "metadata"), "repetition_penalty"), 1e-6);
    }

    @Test
    void bestOfNIsRankedByTheRewardModel() throws Exception {
        Path rmRun = dir.resolve("rm");
        CliRun r = CliRun.of("rm", "--model", base.toString(), "--data", SharedFiles.get("data/preference_pairs_en.json").toString(),
                "--out", rmRun.toString(), "--max-len", "64", "--max-steps", "1", "--batch", "4", "--micro-batch", "4",
                "--eval-fraction", "0", "--threads", "2", "--quiet");
        assertEquals(0, r.code(), r.out() + r.err());
        Path out = dir.resolve("best.jsonl");
        generate(out, "--limit", "3", "--n", "3", "--rerank", rmRun.resolve("final").toString(), "--temperature", "1",
                "--batch", "9", "--seed", "1");
        List<List<JsonNode>> groups = new ArrayList<>();
        for (int k = 1; k <= 3; k++) groups.add(records(dir.resolve("best-top" + k + ".jsonl")));
        List<JsonNode> main = records(out);
        assertEquals(3, main.size());
        for (int q = 0; q < 3; q++) {
            Set<String> answers = new HashSet<>();
            JsonNode rewards = JsonChecks.required(JsonChecks.required(main.get(q), "metadata"), "rewards");
            assertEquals(3, rewards.size());
            for (int k = 0; k < 3; k++) {
                JsonNode rec = groups.get(k).get(q);
                assertEquals(q + 1, JsonChecks.integer(rec, "question_id"));
                assertEquals(k + 1, JsonChecks.integer(JsonChecks.required(rec, "metadata"), "rank"));
                assertEquals(rewards.get(k).asDouble(), JsonChecks.number(JsonChecks.required(rec, "metadata"), "reward"), 0.0,
                        "group file k holds the k-th best");
                if (k > 0) assertTrue(rewards.get(k - 1).asDouble() >= rewards.get(k).asDouble(), "ranked: " + rewards);
                answers.add(JsonChecks.text(JsonChecks.required(rec, "metadata"), "seed"));
            }
            assertEquals(3, answers.size(), "three samples with their own seeds");
            assertEquals(JsonChecks.required(groups.get(0).get(q), "answer_id"), JsonChecks.required(main.get(q), "answer_id"), "the main file has the best");
            assertTrue(rewards.get(0).asDouble() > rewards.get(2).asDouble(), "distinct samples get distinct rewards: " + rewards);
        }

        r = CliRun.of("generate", "--model", base.toString(), "--questions", vicuna, "--out", dir.resolve("x.jsonl").toString(),
                "--n", "3");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--n 3 needs --rerank"), r.err());
    }

    @Test
    void questionFilesOfEveryKind() throws Exception {
        List<Questions.Question> user = Questions.read(SharedFiles.get("data/user_oriented_instructions_252.jsonl"));
        JsonNode first = JSON.readTree(Files.readAllLines(SharedFiles.get("data/user_oriented_instructions_252.jsonl")).getFirst());
        assertTrue(user.size() >= 252, "one question per instance");
        assertEquals(JsonChecks.text(first, "instruction"), user.getFirst().instruction());
        assertEquals(JsonChecks.text(JsonChecks.required(first, "instances").get(0), "input"), user.getFirst().input());
        List<Questions.Question> alpaca = Questions.read(SharedFiles.get("data/alpaca_gpt4_en_1k.json"));
        assertEquals(999, alpaca.size());
        assertEquals(998, alpaca.getLast().id().asInt(), "Alpaca records are numbered by index");
        Path withIds = Files.writeString(dir.resolve("tasks.json"), "[{\"id\": \"demo-2-0\", \"category\": \"add\","
                + " \"instruction\": \"Add the two numbers.\", \"input\": \"1, 2\"}, {\"instruction\": \"Say hi.\"}]");
        List<Questions.Question> tasks = Questions.read(withIds);
        assertEquals("demo-2-0", tasks.get(0).key(), "an Alpaca record's own id is kept");
        assertEquals("add", tasks.get(0).category());
        assertEquals(1, tasks.get(1).id().asInt(), "a record without one is numbered by index");

        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"question_id\": 1, \"text\": \"ok\"}\n{\"foo\": 2}\n");
        CliRun r = CliRun.of("generate", "--model", base.toString(), "--questions", bad.toString(), "--out",
                dir.resolve("y.jsonl").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains(bad + ":2 is not a question"), r.err());
    }

    @Test
    void anAdapterAnswersAsItsMergedModel() throws Exception {
        Path adapter = dir.resolve("adapter"), merged = dir.resolve("merged");
        Random rng = new Random(TestSeeds.next());
        try (Arena arena = Arena.ofConfined(); CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModel.load(backend, base)) {
            m.enableLora(new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj", "down_proj")), 1);
            for (Tensor t : m.trainableParameters().values()) {
                backend.upload(t, Tensor.of(arena, Numerics.normal(rng, (int) t.numel(), 0.3f), t.shape()));
            }
            m.saveAdapter(adapter, base.toString());
        }
        CliRun r = CliRun.of("merge-lora", "--model", base.toString(), "--adapter", adapter.toString(), "--out", merged.toString());
        assertEquals(0, r.code(), r.err());
        Path withAdapter = dir.resolve("adapter.jsonl"), fromMerged = dir.resolve("merged.jsonl"), plain = dir.resolve("plain.jsonl");
        generate(withAdapter, "--adapter", adapter.toString(), "--limit", "2", "--temperature", "0");
        r = CliRun.of("generate", "--model", merged.toString(), "--questions", vicuna, "--out", fromMerged.toString(),
                "--max-new-tokens", "12", "--threads", "2", "--limit", "2", "--temperature", "0");
        assertEquals(0, r.code(), r.out() + r.err());
        generate(plain, "--limit", "2", "--temperature", "0");
        assertEquals(texts(records(fromMerged)), texts(records(withAdapter)));
        assertFalse(texts(records(plain)).equals(texts(records(withAdapter))), "the adapter changes the answers");
        assertEquals("adapter", JsonChecks.text(records(withAdapter).getFirst(), "model_id"), "named after the adapter");
    }

    private static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(b));
        return l.toArray(String[]::new);
    }
}
