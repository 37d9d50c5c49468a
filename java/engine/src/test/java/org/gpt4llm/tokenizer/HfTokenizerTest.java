package org.gpt4llm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real tokenizers through the HF library: ids checked against the vocabulary files. */
class HfTokenizerTest {
    private static final String CHINESE = "你好，世界！指令微调让模型学会遵循人类的指令。鑫";
    private static final String MIXED = "Instruction tuning with GPT-4: 3 epochs, lr 2e-5.\n  Indented   line\t\tand tabs.\n" + CHINESE;

    @Test
    void llama2IdsMatchItsVocabulary() throws IOException {
        try (HfTokenizer tok = Tokenizers.load(SharedFiles.get("models/llama2-tokenizer"))) {
            // "▁Hello" = 15043, "▁world" = 3186 in tokenizer.json; no BOS added
            assertArrayEquals(new int[] {15043, 3186}, tok.encode("Hello world"));
            assertEquals("Hello world", tok.decode(new int[] {15043, 3186}));
            // "▁" 29871, 你 30919, 好 31076, ， 30214, 世 30793, 界 30967; 鑫 is not in the vocabulary:
            // byte fallback to <0xE9> 236, <0x91> 148, <0xAB> 174
            assertArrayEquals(new int[] {29871, 30919, 31076, 30214, 30793, 30967, 236, 148, 174}, tok.encode("你好，世界鑫"));
            assertEquals(32000, tok.vocabSize());
            assertEquals(1, tok.bosId());
            assertEquals(2, tok.eosId());
            assertEquals(2, tok.padId(), "no pad token: rows are padded with EOS");
            assertRoundTrip(tok, CHINESE);
            assertRoundTrip(tok, MIXED);
            // special tokens are skipped when decoding
            assertEquals("Hello world", tok.decode(new int[] {1, 15043, 3186, 2}));
        }
    }

    @Test
    void gpt2VocabAndMergesLoadWithoutTokenizerJson() throws IOException {
        try (HfTokenizer tok = Tokenizers.load(SharedFiles.get("models/gpt2-tokenizer"))) {
            // vocab.json: "Hello" = 15496, "Ġworld" = 995
            assertArrayEquals(new int[] {15496, 995}, tok.encode("Hello world"));
            assertEquals(50257, tok.vocabSize());
            assertEquals(50256, tok.bosId());
            assertEquals(50256, tok.eosId());
            assertEquals(50256, tok.padId());
            assertRoundTrip(tok, CHINESE);
            assertRoundTrip(tok, MIXED);
            assertEquals("Hello world", tok.decode(new int[] {15496, 995, 50256}));
        }
    }

    @Test
    void robertaUsesFairseqIds() throws IOException {
        try (HfTokenizer tok = Tokenizers.load(SharedFiles.get("models/opt-tokenizer-roberta"))) {
            // tokenizer.json: "Hello" = 31414, "Ġworld" = 232; no <s> ... </s> around the ids
            assertArrayEquals(new int[] {31414, 232}, tok.encode("Hello world"));
            assertEquals(0, tok.bosId());
            assertEquals(2, tok.eosId());
            assertEquals(1, tok.padId());
            assertRoundTrip(tok, CHINESE);
            assertRoundTrip(tok, MIXED);
        }
    }

    @Test
    void longTextIsNeverTruncated() throws IOException {
        try (HfTokenizer tok = Tokenizers.load(SharedFiles.get("models/llama2-tokenizer"))) {
            String text = "word ".repeat(5000).strip();
            int[] ids = tok.encode(text);
            assertEquals(5000, ids.length, "tokenizer_config.json says model_max_length 2048; encode must not cut there");
            assertEquals(text, tok.decode(ids));
        }
    }

    @Test
    void missingFolderOrFileIsOneClearError(@TempDir Path dir) {
        IOException none = assertThrows(IOException.class, () -> Tokenizers.load(dir.resolve("absent")));
        assertTrue(none.getMessage().startsWith(dir.resolve("absent") + " has no tokenizer.json: the folder does not exist"), none.getMessage());
        IOException empty = assertThrows(IOException.class, () -> Tokenizers.load(dir));
        assertTrue(empty.getMessage().startsWith(dir + " has no tokenizer.json"), empty.getMessage());
    }

    @Test
    void brokenTokenizerJsonIsNamedAsSuch(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        String good = java.nio.file.Files.readString(SharedFiles.get("models/llama2-tokenizer/tokenizer.json"));
        String broken = file + " is not a tokenizer the HF tokenizers library can load: ";
        // each broken file, and the reason the message must give
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put(good.substring(0, good.length() / 2), "it is not JSON (line ");
        cases.put("<html>rate limited</html>", "it is not JSON (line 1, column 1: Unexpected character ('<'");
        cases.put("", "it is empty");
        cases.put("[1, 2]", "it is not a JSON object");
        cases.put("{\"version\": \"1.0\", \"added_tokens\": []}", "it has no \"model\" section");
        cases.put("{\"model\": {\"type\": \"Nonsense\"}}", "its model type \"Nonsense\" is not one of BPE, Unigram, WordLevel, WordPiece");
        // one only the library itself refuses: a BPE vocabulary must map tokens to ids
        cases.put("{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\", \"b\"], \"merges\": []}}", "invalid type: sequence, expected a map");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            java.nio.file.Files.writeString(file, c.getKey());
            IOException e = assertThrows(IOException.class, () -> Tokenizers.load(dir));
            assertTrue(e.getMessage().startsWith(broken + c.getValue()), e.getMessage());
            assertTrue(e.getMessage().lines().count() == 1 && !e.getMessage().contains(" at line "),
                    "one line, without the library's position in a copy of the file: " + e.getMessage());
        }
    }

    static void assertRoundTrip(Tokenizer tok, String text) {
        assertEquals(text, tok.decode(tok.encode(text)));
    }
}
