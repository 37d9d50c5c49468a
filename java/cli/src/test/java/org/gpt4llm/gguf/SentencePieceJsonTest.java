package org.gpt4llm.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SentencePiece → tokenizer.json conversion against the real thing: LLaMA-2's {@code tokenizer.model}
 * converted here must give the {@code tokenizer.json} transformers made from it (all 32000 pieces and
 * 61249 merges in order) and tokenize the same.
 */
class SentencePieceJsonTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void llama2VocabularyGivesTransformersTokenizerJson(@TempDir Path dir) throws Exception {
        Path shipped = SharedFiles.get("models/llama2-tokenizer");
        SentencePieceJson.Vocabulary v = readModel(shipped.resolve("tokenizer.model"));
        ObjectNode mine = SentencePieceJson.tokenizerJson(v);
        JsonNode theirs = JSON.readTree(shipped.resolve("tokenizer.json").toFile());

        assertEquals(theirs.path("model").path("vocab"), mine.path("model").path("vocab"));
        assertEquals(theirs.path("model").path("merges"), mine.path("model").path("merges"));
        for (String field : List.of("added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder")) {
            assertEquals(theirs.path(field), mine.path(field), field);
        }
        ObjectNode model = mine.path("model").deepCopy(), theirModel = theirs.path("model").deepCopy();
        model.remove(List.of("vocab", "merges"));
        theirModel.remove(List.of("vocab", "merges"));
        assertEquals(theirModel, model, "BPE options");

        Path ours = dir.resolve("converted");
        Files.createDirectories(ours);
        AtomicFiles.writeJson(ours.resolve("tokenizer.json"), mine);
        AtomicFiles.writeJson(ours.resolve("tokenizer_config.json"), SentencePieceJson.tokenizerConfig(v, -1, 4096));
        try (HfTokenizer a = Tokenizers.load(ours); HfTokenizer b = Tokenizers.load(shipped)) {
            for (String text : List.of("Once upon a time, there was a little girl.", "  two  spaces\tand\na newline",
                    "caf\u00e9 \u732b \ud83d\udc08 \u0416\u0443\u043a", "<s>special</s> 12345")) {
                assertArrayEquals(b.encode(text), a.encode(text), text);
                assertEquals(b.decode(b.encode(text)), a.decode(a.encode(text)), text);
            }
            assertEquals(List.of(b.bosId(), b.eosId(), b.vocabSize()), List.of(a.bosId(), a.eosId(), a.vocabSize()));
        }
    }

    /**
     * The pieces of a SentencePiece {@code ModelProto}: field 1 repeats {@code SentencePiece}
     * {piece = 1 (string), score = 2 (float), type = 3 (enum)}; other fields are skipped.
     */
    private static SentencePieceJson.Vocabulary readModel(Path file) throws Exception {
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        while (buf.hasRemaining()) {
            long key = varint(buf);
            if (key >>> 3 == 1 && (key & 7) == 2) {
                ByteBuffer p = slice(buf);
                String piece = "";
                float score = 0;
                int type = SentencePieceJson.NORMAL;
                while (p.hasRemaining()) {
                    long k = varint(p);
                    switch ((int) (k >>> 3)) {
                        case 1 -> piece = StandardCharsets.UTF_8.decode(slice(p)).toString();
                        case 2 -> score = p.getFloat();
                        case 3 -> type = (int) varint(p);
                        default -> skip(p, (int) (k & 7));
                    }
                }
                pieces.add(piece);
                scores.add(score);
                types.add(type);
            } else {
                skip(buf, (int) (key & 7));
            }
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
        return new SentencePieceJson.Vocabulary(pieces, s, types.stream().mapToInt(Integer::intValue).toArray(),
                types.indexOf(SentencePieceJson.UNKNOWN), pieces.indexOf("<s>"), pieces.indexOf("</s>"), true, false);
    }

    private static long varint(ByteBuffer b) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            byte x = b.get();
            v |= (long) (x & 0x7f) << shift;
            if (x >= 0) return v;
        }
    }

    private static ByteBuffer slice(ByteBuffer b) {
        int len = (int) varint(b);
        ByteBuffer s = b.slice(b.position(), len).order(ByteOrder.LITTLE_ENDIAN);
        b.position(b.position() + len);
        return s;
    }

    private static void skip(ByteBuffer b, int wireType) {
        switch (wireType) {
            case 0 -> varint(b);
            case 1 -> b.position(b.position() + 8);
            case 2 -> slice(b);
            case 5 -> b.position(b.position() + 4);
            default -> throw new IllegalStateException("protobuf wire type " + wireType);
        }
    }
}
