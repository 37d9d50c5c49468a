package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.lang.foreign.Arena;
import java.util.Random;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.generate.Questions;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
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
        CliRun r = run(vicuna, out, concat(new String[] {"--max-new-tokens", "12"}, more));
        assertEquals(0, r.code(), r.out() + r.err());
        return r;
    }

    /** {@code gpt4llm generate} of the tiny model on {@code questions}, whatever its exit code. */
    static CliRun run(String questions, Path out, String... more) {
        return CliRun.of(args(questions, out, more).toArray(String[]::new));
    }

    static List<String> args(String questions, Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", base.toString(), "--questions", questions,
                "--out", out.toString(), "--threads", "2"));
        args.addAll(List.of(more));
        return args;
    }

    /** question_id → text of every record of {@code file}, each question_id once. */
    static Map<String, String> answersById(Path file) throws Exception {
        Map<String, String> m = new HashMap<>();
        for (JsonNode n : records(file)) {
            String id = JsonChecks.text(n, "question_id");
            assertEquals(null, m.put(id, JsonChecks.text(n, "text")), "question_id " + id + " answered twice in " + file);
        }
        return m;
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
            JsonNode settings = JsonChecks.required(m, "settings");
            assertEquals(0.0, JsonChecks.number(settings, "temperature"));
            assertEquals(12, JsonChecks.integer(settings, "max_new_tokens"));
            assertEquals("tiny-llama", JsonChecks.text(settings, "model_id"));
            assertEquals(base.toRealPath().toString(), JsonChecks.text(settings, "model"));
            assertEquals("id:" + (i + 1), JsonChecks.text(m, "key"));
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
        CliRun r = generate(killed, "--limit", "5", "--temperature", "0", "--batch", "3", "--model-id", "tiny-llama");
        assertTrue(r.out().contains("5 questions, 2 already answered"), r.out());
        List<JsonNode> resumed = records(killed);
        assertEquals(texts(recs), texts(resumed), "every id once, in order, with the same answers");
        assertEquals(JsonChecks.required(recs.get(0), "answer_id"), JsonChecks.required(resumed.get(0), "answer_id"), "finished records are kept as they were");
        // and a finished file has nothing left to do
        r = generate(killed, "--limit", "5", "--temperature", "0", "--model-id", "tiny-llama");
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
        assertEquals(1.2, JsonChecks.number(JsonChecks.required(JsonChecks.required(records(a).getFirst(), "metadata"), "settings"),
                "repetition_penalty"), 1e-6);
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

        // rerun: nothing to do; with the samples ranked otherwise, the files are refused
        List<String> before = new ArrayList<>();
        for (int k = 1; k <= 3; k++) before.add(Files.readString(dir.resolve("best-top" + k + ".jsonl")));
        String[] best = {"--limit", "3", "--n", "3", "--rerank", rmRun.resolve("final").toString(), "--temperature", "1",
                "--batch", "9", "--seed", "1"};
        r = generate(out, best);
        assertTrue(r.out().contains("3 questions, 3 already answered in " + out + ", 0 to go"), r.out());
        r = run(vicuna, out, concat(best, "--max-new-tokens", "12", "--rm-max-len", "32"));
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains(out + " holds answers made with rm_max_len 512, not 32 as this run asks"), r.err());
        Files.delete(out); // the group files are checked as the main file is
        r = run(vicuna, out, "--limit", "3", "--n", "2", "--rerank", rmRun.resolve("final").toString(), "--temperature", "1",
                "--batch", "9", "--seed", "1", "--max-new-tokens", "12");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains(dir.resolve("best-top1.jsonl") + " holds answers made with n 3, not 2 as this run asks"), r.err());
        for (int k = 1; k <= 3; k++) assertEquals(before.get(k - 1), Files.readString(dir.resolve("best-top" + k + ".jsonl")));
        assertFalse(Files.exists(out), "a refused run creates nothing");

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
        assertEquals("demo-2-0", tasks.get(0).idText(), "an Alpaca record's own id is kept");
        assertEquals("id:demo-2-0", tasks.get(0).key(), "and answers are found by it");
        assertEquals("add", tasks.get(0).category());
        assertEquals(1, tasks.get(1).id().asInt(), "a record without one is numbered by index");
        assertEquals(Questions.contentKey("Say hi.", ""), tasks.get(1).key(), "and its answer found by what it asks");

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
             DecoderModel m = DecoderModels.load(backend, base)) {
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

    @Test
    void aFileOfAnotherModelOrOtherSettingsIsRefused() throws Exception {
        Path out = dir.resolve("tiny.jsonl");
        generate(out, "--limit", "2", "--temperature", "0", "--model-id", "tiny-llama");
        String before = Files.readString(out);
        CliRun r = run(vicuna, out, "--limit", "3", "--temperature", "0", "--max-new-tokens", "12", "--model-id", "other-llama");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm generate: " + out + " holds answers made with model_id \"tiny-llama\", not \"other-llama\" as this run"
                + " asks; give another --out (answers of different model_id are never mixed in one file)", r.err().strip());
        r = run(vicuna, out, "--limit", "3", "--temperature", "0", "--max-new-tokens", "0", "--model-id", "tiny-llama");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains(out + " holds answers made with max_new_tokens 12, not 0 as this run asks"), r.err());
        r = run(vicuna, out, "--limit", "3", "--max-new-tokens", "12", "--model-id", "tiny-llama");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("made with temperature 0.0, not 0.7 as this run asks"), r.err());
        r = run(vicuna, out, "--limit", "3", "--temperature", "0", "--max-new-tokens", "12", "--model-id", "tiny-llama", "--stop", "###");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("made with stop [], not [\"###\"]"), r.err());
        assertEquals(before, Files.readString(out), "a refused file is left as it was");
        generate(out, "--limit", "3", "--temperature", "0", "--model-id", "tiny-llama");
        assertEquals(3, answersById(out).size(), "the same settings go on");
    }

    @Test
    void repeatedQuestionIdsAreReportedByLine() throws Exception {
        Path dup = Files.writeString(dir.resolve("dup.jsonl"), """
                {"question_id": 1, "text": "What is 2 + 2?"}
                {"question_id": 2, "text": "Name a colour."}
                {"question_id": 1, "text": "Say hi."}
                """);
        CliRun r = run(dup.toString(), dir.resolve("dup-answers.jsonl"));
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm generate: " + dup + " gives question id 1 to lines 1 and 3; every question needs an id of its own,"
                + " or one of their answers would be lost", r.err().strip());
        Path tasks = Files.writeString(dir.resolve("dup-tasks.json"), "[{\"id\": \"t-1\", \"instruction\": \"Add 1 and 2.\"},"
                + " {\"id\": \"t-2\", \"instruction\": \"Add 2 and 2.\"}, {\"id\": \"t-1\", \"instruction\": \"Add 3 and 2.\"}]");
        r = run(tasks.toString(), dir.resolve("dup-answers.jsonl"));
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains(tasks + " gives question id t-1 to records 0 and 2"), r.err());
        assertFalse(Files.exists(dir.resolve("dup-answers.jsonl")), "nothing is written");
    }

    @Test
    void questionsWithoutIdsReorderedOrInsertedDoOnlyTheNewWork() throws Exception {
        JsonNode alpaca = JSON.readTree(SharedFiles.get("data/alpaca_gpt4_en_1k.json").toFile());
        List<JsonNode> first = new ArrayList<>();
        for (int i = 0; i < 5; i++) first.add(alpaca.get(i));
        Path v1 = Files.writeString(dir.resolve("v1.json"), JSON.writeValueAsString(first));
        String[] sampled = {"--temperature", "1", "--top-k", "40", "--seed", "7", "--max-new-tokens", "8", "--batch", "4"};
        Path out = dir.resolve("no-ids.jsonl");
        CliRun r = run(v1.toString(), out, sampled);
        assertEquals(0, r.code(), r.out() + r.err());
        // shuffled, two new questions inserted, one asked twice
        List<JsonNode> second = new ArrayList<>(first);
        second.add(alpaca.get(5));
        second.add(alpaca.get(6));
        Collections.shuffle(second, TestSeeds.random());
        second.add(first.get(2));
        Path v2 = Files.writeString(dir.resolve("v2.json"), JSON.writeValueAsString(second));
        r = run(v2.toString(), out, sampled);
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("8 questions, 6 already answered in " + out + ", 2 to go"), r.out());
        assertTrue(r.out().contains("2/2 answered"), "only the new questions were answered: " + r.out());
        assertTrue(r.err().contains("note: " + v2 + ": the questions of records " + second.indexOf(first.get(2)) + " and 7 ask the same"),
                r.err());
        Path fresh = dir.resolve("no-ids-fresh.jsonl");
        r = run(v2.toString(), fresh, sampled);
        assertEquals(0, r.code(), r.out() + r.err());
        Map<String, String> resumed = answersById(out);
        assertEquals(8, resumed.size(), "every question of the file once: " + resumed);
        assertEquals(answersById(fresh), resumed, "the answers a run from scratch gives, under the same question ids");
    }

    @Test
    void aFileOfAnEarlierVersionIsContinuedWithAWarning() throws Exception {
        Path whole = dir.resolve("whole.jsonl"), legacy = dir.resolve("legacy.jsonl");
        generate(whole, "--limit", "5", "--temperature", "0", "--model-id", "tiny-llama");
        StringBuilder old = new StringBuilder();
        for (JsonNode n : records(whole).subList(0, 3)) {
            // as the earlier version wrote them: the sampling flags in metadata, no key, no settings
            ObjectNode meta = (ObjectNode) JsonChecks.required(n, "metadata");
            ObjectNode settings = (ObjectNode) meta.remove("settings");
            meta.remove("key");
            for (String f : List.of("template", "temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens", "stop")) {
                meta.set(f, settings.get(f));
            }
            old.append(JSON.writeValueAsString(n)).append('\n');
        }
        Files.writeString(legacy, old);
        CliRun r = generate(legacy, "--limit", "5", "--temperature", "0", "--model-id", "tiny-llama");
        assertTrue(r.err().contains("warning: " + legacy + " holds 3 answers written before answers recorded their question's key"
                + " and run settings: they are matched by question_id and continued as this run's"), r.err());
        assertTrue(r.out().contains("5 questions, 3 already answered in " + legacy + ", 2 to go"), r.out());
        assertEquals(texts(records(whole)), texts(records(legacy)));
        r = generate(legacy, "--limit", "5", "--temperature", "0", "--model-id", "tiny-llama");
        assertTrue(r.out().contains("0 to go") && r.err().isEmpty(), r.out() + r.err());
    }

    @Test
    void killedWithSigkillAndRerunEveryAnswerOnce() throws Exception {
        Path out = dir.resolve("sigkill.jsonl"), log = dir.resolve("sigkill.log");
        String[] flags = {"--limit", "24", "--temperature", "1", "--seed", "2", "--max-new-tokens", "48", "--batch", "1"};
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args(vicuna, out, flags));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (p.isAlive() && lines(out) < 3 && System.nanoTime() < deadline) Thread.sleep(2);
        assertTrue(p.isAlive(), "generate ended before it could be killed: " + Files.readString(log));
        p.destroyForcibly().waitFor(); // SIGKILL
        int written = lines(out);
        assertTrue(written >= 3 && written < 24, "killed after " + written + " answers");

        CliRun r = run(vicuna, out, flags);
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().matches("(?s)24 questions, \\d+ already answered in .*"), r.out());
        Path whole = dir.resolve("sigkill-whole.jsonl");
        r = run(vicuna, whole, flags);
        assertEquals(0, r.code(), r.out() + r.err());
        Map<String, String> resumed = answersById(out);
        assertEquals(24, resumed.size());
        assertEquals(answersById(whole), resumed, "every answer once, as an uninterrupted run gives it");
    }

    @Test
    void aModelWhoseLogitsOverflowStopsNamingIt() throws Exception {
        // finite weights that overflow a float in the first layer: every logit after it is NaN
        Path overflow = dir.resolve("overflow");
        Files.createDirectories(overflow);
        try (var files = Files.list(base)) {
            for (Path f : files.toList()) if (Files.isRegularFile(f)) Files.copy(f, overflow.resolve(f.getFileName()));
        }
        Path weights = overflow.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = (int) buf.getLong(0);
        JsonNode norm = JsonChecks.required(JSON.readTree(new String(bytes, 8, headerLength, StandardCharsets.UTF_8)),
                "model.layers.0.input_layernorm.weight");
        assertEquals("F32", JsonChecks.text(norm, "dtype"));
        JsonNode offsets = JsonChecks.nonEmptyArray(norm, "data_offsets");
        for (long at = 8 + headerLength + offsets.get(0).asLong(); at < 8 + headerLength + offsets.get(1).asLong(); at += 4) {
            buf.putFloat((int) at, 3e38f);
        }
        Files.write(weights, bytes);
        Path out = dir.resolve("overflow.jsonl");
        CliRun r = CliRun.of("generate", "--model", overflow.toString(), "--questions", vicuna, "--out", out.toString(),
                "--limit", "2", "--max-new-tokens", "4", "--threads", "2");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm generate: " + overflow + " gives NaN or infinite logits for new token 1 of question 1: its weights are"
                + " broken or its activations overflow, so its answers would be noise; nothing of this batch was written", r.err().strip());
        assertFalse(Files.exists(out), "no empty answers");
    }

    /** Whole lines written so far (a line being written may end in half a character). */
    private static int lines(Path f) throws java.io.IOException {
        if (!Files.exists(f)) return 0;
        int n = 0;
        for (byte b : Files.readAllBytes(f)) if (b == '\n') n++;
        return n;
    }

    private static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(b));
        return l.toArray(String[]::new);
    }
}
