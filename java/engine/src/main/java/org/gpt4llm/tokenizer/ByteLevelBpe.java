package org.gpt4llm.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.gpt4llm.io.AtomicFiles;

/**
 * A byte-level BPE vocabulary as {@link BpeTrainer} builds it, with our own encoder (the reference
 * the HF library's ids are checked against) and the writer of HF's {@code tokenizer.json} and
 * {@code tokenizer_config.json}. Ids: the special tokens 0..3, the 256 bytes 4..259, then one token
 * per merge in the order learnt.
 */
public final class ByteLevelBpe {
    /** Special tokens and their ids (the list index). */
    public static final List<String> SPECIALS = List.of("<s>", "</s>", "<unk>", "<pad>");
    /** The smallest vocabulary: the special tokens and one token per byte. */
    public static final int MIN_VOCAB = 4 + 256;

    /** Special tokens as whole strings in the text, found before the split into words (as the HF library does). */
    private static final Pattern SPECIAL_TEXT = Pattern.compile(
            SPECIALS.stream().map(Pattern::quote).collect(Collectors.joining("|")));

    private final List<String> tokens;
    private final Map<String, Integer> ids;
    private final List<int[]> merges;
    /** (left id, right id) → {rank, merged id}. */
    private final Map<Long, int[]> mergeOf = new HashMap<>();
    private final Map<String, int[]> cache = new HashMap<>();

    /** @param tokens spellings by id (specials, then the bytes' characters, then merges); @param merges id pairs by rank */
    ByteLevelBpe(List<String> tokens, List<int[]> merges) {
        this.tokens = List.copyOf(tokens);
        this.merges = List.copyOf(merges);
        this.ids = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) ids.putIfAbsent(tokens.get(i), i);
        for (int r = 0; r < merges.size(); r++) {
            int[] m = merges.get(r);
            int merged = ids.get(tokens.get(m[0]) + tokens.get(m[1]));
            mergeOf.putIfAbsent(pairKey(m[0], m[1]), new int[] {r, merged});
        }
    }

    /** The largest vocabulary a pair key can index (2^21 ids). */
    public static final int MAX_VOCAB = 1 << 21;

    /**
     * One long for a pair of ids. Not a << 32 | b: Long's hash is the xor of its halves, which
     * would put every pair of small ids in a few thousand hash buckets; with 21 bits per id the
     * key of two ids below 2^11 is its own hash.
     */
    static long pairKey(int a, int b) {
        return ((long) a << 21) | b;
    }

    static int left(long pairKey) {
        return (int) (pairKey >>> 21);
    }

    static int right(long pairKey) {
        return (int) (pairKey & (MAX_VOCAB - 1));
    }

    /** The id of byte {@code b}. */
    static int byteId(int b) {
        return SPECIALS.size() + (b & 0xFF);
    }

    public int vocabSize() {
        return tokens.size();
    }

    public int mergeCount() {
        return merges.size();
    }

    /** The ids of {@code text}: special tokens written in the text become their ids, the rest is BPE-encoded word by word. */
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        Matcher m = SPECIAL_TEXT.matcher(text);
        int from = 0;
        while (m.find()) {
            encodePlain(text.substring(from, m.start()), out);
            out.add(SPECIALS.indexOf(m.group()));
            from = m.end();
        }
        encodePlain(text.substring(from), out);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private void encodePlain(String text, List<Integer> out) {
        for (String word : ByteLevel.words(text)) {
            for (int id : cache.computeIfAbsent(word, this::encodeWord)) out.add(id);
        }
    }

    /**
     * BPE of one word the way the HF library applies merges: one merge at a time, always the
     * adjacent pair of lowest rank, the leftmost one among equals (not all occurrences at once).
     */
    private int[] encodeWord(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        int[] syms = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) syms[i] = byteId(bytes[i]);
        int n = syms.length;
        while (n > 1) {
            int at = -1;
            int[] best = null;
            for (int i = 0; i + 1 < n; i++) {
                int[] m = mergeOf.get(pairKey(syms[i], syms[i + 1]));
                if (m != null && (best == null || m[0] < best[0])) {
                    best = m;
                    at = i;
                }
            }
            if (best == null) break;
            syms[at] = best[1];
            System.arraycopy(syms, at + 2, syms, at + 1, n - at - 2);
            n--;
        }
        return java.util.Arrays.copyOf(syms, n);
    }

    /** The text of {@code ids}, special tokens skipped. */
    public String decode(int[] ids) {
        StringBuilder spelled = new StringBuilder();
        for (int id : ids) {
            if (id < 0 || id >= tokens.size()) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + tokens.size());
            if (id >= SPECIALS.size()) spelled.append(tokens.get(id));
        }
        return new String(ByteLevel.bytesOf(spelled.toString()), StandardCharsets.UTF_8);
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} into {@code dir}, each atomically. */
    public void write(Path dir, int modelMaxLength) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper json = new ObjectMapper();
        AtomicFiles.writeJson(dir.resolve("tokenizer.json"), tokenizerJson(json));
        AtomicFiles.writeJson(dir.resolve("tokenizer_config.json"), tokenizerConfig(json, modelMaxLength));
    }

    /** HF tokenizers' serialisation of a GPT-2-style byte-level BPE with our special tokens. */
    private ObjectNode tokenizerJson(ObjectMapper json) {
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < SPECIALS.size(); i++) {
            added.addObject().put("id", i).put("content", SPECIALS.get(i)).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", ByteLevel.json(true));
        // no special tokens added around sequences: callers add BOS/EOS where their format wants them
        root.set("post_processor", ByteLevel.json(false));
        root.set("decoder", ByteLevel.json(true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", "<unk>");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < tokens.size(); i++) vocab.put(tokens.get(i), i);
        ArrayNode mergeList = model.putArray("merges");
        // "a b" strings: byte-level spellings never contain a space, and every library version reads this form
        for (int[] m : merges) mergeList.add(tokens.get(m[0]) + " " + tokens.get(m[1]));
        return root;
    }

    private static ObjectNode tokenizerConfig(ObjectMapper json, int modelMaxLength) {
        ObjectNode c = json.createObjectNode();
        c.put("tokenizer_class", "PreTrainedTokenizerFast");
        c.put("bos_token", SPECIALS.get(0));
        c.put("eos_token", SPECIALS.get(1));
        c.put("unk_token", SPECIALS.get(2));
        c.put("pad_token", SPECIALS.get(3));
        c.put("model_max_length", modelMaxLength);
        c.put("add_prefix_space", false);
        c.put("clean_up_tokenization_spaces", false);
        return c;
    }
}
