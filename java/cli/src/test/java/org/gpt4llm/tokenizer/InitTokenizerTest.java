package org.gpt4llm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.gpt4llm.cli.Main;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** `gpt4llm init-tokenizer` on the real Alpaca data: the files load in the HF library unchanged and agree with our encoder. */
class InitTokenizerTest {
    private static final int VOCAB = 2000;
    @TempDir
    static Path tmp;
    private static Path out;
    private static List<String> texts;

    @BeforeAll
    static void train() throws IOException {
        Path en = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        Path zh = SharedFiles.get("data/alpaca_gpt4_zh_1k.json");
        out = tmp.resolve("tok");
        assertEquals(0, run("init-tokenizer", "--data", en + "," + zh, "--vocab", String.valueOf(VOCAB), "--out", out.toString()).code);
        texts = new ArrayList<>(TrainingTexts.read(en));
        texts.addAll(TrainingTexts.read(zh));
    }

    @Test
    void theHfLibraryLoadsTheFileUnchangedAndAgreesWithOurEncoder() throws IOException {
        BpeTrainer trainer = new BpeTrainer(VOCAB, 2);
        texts.forEach(trainer::add);
        ByteLevelBpe ours = trainer.train();
        assertEquals(VOCAB, ours.vocabSize());
        Map<String, String> options = Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(out.resolve("tokenizer.json"), options)) {
            for (int i = 0; i < texts.size(); i++) {
                String text = texts.get(i);
                long[] ids = hf.encode(text, false, false).getIds();
                int[] expected = ours.encode(text);
                assertArrayEquals(expected, java.util.Arrays.stream(ids).mapToInt(Math::toIntExact).toArray(), "text " + i);
                assertEquals(text, hf.decode(ids, true), "text " + i);
                assertEquals(text, ours.decode(expected), "text " + i);
            }
        }
    }

    @Test
    void ourSplitMatchesTheLibraryOnAwkwardText() throws IOException {
        BpeTrainer trainer = new BpeTrainer(VOCAB, 2);
        texts.forEach(trainer::add);
        ByteLevelBpe ours = trainer.train();
        List<String> awkward = List.of(
                "It's THEY'RE we'll I'M you'd", "  leading and trailing  ", "a\r\nb\n\n\tc", "no\u00a0break\u3000ideographic space",
                "emoji 😀👍🏽 and é (e + U+0301)", "١٢٣ arabic digits, ⅻ roman, 3.14e-5", "tabs\t\t\tthen text", "</s>inside<pad>text<s>",
                "中文，标点！“引号”（括号）……", "x".repeat(300) + " " + "的".repeat(200), "");
        Map<String, String> options = Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(out.resolve("tokenizer.json"), options)) {
            for (String text : awkward) {
                long[] ids = hf.encode(text, false, false).getIds();
                assertArrayEquals(ours.encode(text), java.util.Arrays.stream(ids).mapToInt(Math::toIntExact).toArray(), text);
            }
        }
    }

    @Test
    void vocabularyAndSpecialTokensAreAsAsked() throws IOException {
        JsonNode spec = new ObjectMapper().readTree(out.resolve("tokenizer.json").toFile());
        assertEquals(VOCAB, JsonChecks.required(JsonChecks.required(spec, "model"), "vocab").size());
        List<String> specials = List.of("<s>", "</s>", "<unk>", "<pad>");
        for (int i = 0; i < 4; i++) {
            JsonNode t = JsonChecks.required(spec, "added_tokens").get(i);
            assertEquals(i, JsonChecks.integer(t, "id"));
            assertEquals(specials.get(i), JsonChecks.text(t, "content"));
            assertTrue(JsonChecks.bool(t, "special"));
        }
        JsonNode config = new ObjectMapper().readTree(out.resolve("tokenizer_config.json").toFile());
        assertEquals("<s>", JsonChecks.text(config, "bos_token"));
        assertEquals("</s>", JsonChecks.text(config, "eos_token"));
        try (HfTokenizer tok = Tokenizers.load(out)) {
            assertEquals(VOCAB, tok.vocabSize());
            assertEquals(0, tok.bosId());
            assertEquals(1, tok.eosId());
            assertEquals(3, tok.padId());
            // special tokens written in the text are found as tokens, and skipped when decoding
            assertArrayEquals(new int[] {0}, tok.encode("<s>"));
            String zh = "指令微调让模型学会遵循人类的指令。";
            assertEquals(zh, tok.decode(tok.encode(zh)));
            assertEquals("Hi", tok.decode(concat(new int[] {0}, tok.encode("Hi"), new int[] {1})));
            assertFalse(Files.list(out).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temp files left");
        }
    }

    @Test
    void trainingIsDeterministic() throws IOException {
        Path again = tmp.resolve("again");
        Path en = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        Path zh = SharedFiles.get("data/alpaca_gpt4_zh_1k.json");
        assertEquals(0, run("init-tokenizer", "--data", en + "," + zh, "--vocab", String.valueOf(VOCAB), "--out", again.toString()).code);
        assertEquals(Files.readString(out.resolve("tokenizer.json")), Files.readString(again.resolve("tokenizer.json")));
    }

    @Test
    void tooSmallVocabularyIsOneClearError() {
        Result r = run("init-tokenizer", "--data", tmp.resolve("x.txt").toString(), "--vocab", "259", "--out", tmp.resolve("small").toString());
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--vocab 259 is too small: a byte-level BPE needs at least 260 tokens"), r.err);
        assertFalse(Files.exists(tmp.resolve("small")));
    }

    @Test
    void badDataNamesTheFileAndRecord(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "[{\"instruction\": \"a\", \"output\": \"b\"}, {\"text\": \"c\"}]");
        Result r = run("init-tokenizer", "--data", bad.toString(), "--vocab", "300", "--out", dir.resolve("t").toString());
        assertEquals(2, r.code);
        assertTrue(r.err.contains(bad + " record 1 is not an Alpaca record"), r.err);
        Result missing = run("init-tokenizer", "--data", dir.resolve("none.txt").toString(), "--vocab", "300", "--out", dir.resolve("t").toString());
        assertEquals(2, missing.code);
        assertTrue(missing.err.contains(dir.resolve("none.txt") + " does not exist"), missing.err);
    }

    @Test
    void plainTextTrainsAndAnExistingTokenizerIsKept(@TempDir Path dir) throws IOException {
        Path txt = dir.resolve("lines.txt");
        Files.writeString(txt, "hello hello hello world\n世界 世界 世界\n");
        Path tok = dir.resolve("t");
        assertEquals(0, run("init-tokenizer", "--data", txt.toString(), "--vocab", "270", "--out", tok.toString()).code);
        String first = Files.readString(tok.resolve("tokenizer.json"));
        Result again = run("init-tokenizer", "--data", txt.toString(), "--vocab", "300", "--out", tok.toString());
        assertEquals(2, again.code);
        assertTrue(again.err.contains("already holds a tokenizer"), again.err);
        assertEquals(first, Files.readString(tok.resolve("tokenizer.json")));
        try (HfTokenizer t = Tokenizers.load(tok)) {
            assertEquals("hello world 世界", t.decode(t.encode("hello world 世界")));
        }
    }

    @Test
    void jsonlRecordsGiveTheirFields(@TempDir Path dir) throws IOException {
        Path jsonl = dir.resolve("a.jsonl");
        Files.writeString(jsonl, "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"Hi!\"}\n\n"
                + "{\"instruction\": \"翻译\", \"input\": \"cat\", \"output\": \"猫\"}\n");
        assertEquals(List.of("Say hi", "Hi!", "翻译", "cat", "猫"), TrainingTexts.read(jsonl));
        Files.writeString(jsonl, "{\"instruction\": \"x\", \"output\": 3}\n{broken\n");
        IOException e = assertThrows(IOException.class, () -> TrainingTexts.read(jsonl));
        assertTrue(e.getMessage().startsWith(jsonl + " line 1 has a non-text output"), e.getMessage());
    }

    private static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }

    private record Result(int code, String err) {
    }

    private static Result run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        return new Result(cl.execute(args), err.toString());
    }
}
