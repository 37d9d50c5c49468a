package org.gpt4llm.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level pre-tokenization, as HF tokenizers' {@code ByteLevel} pre-tokenizer does it
 * with {@code use_regex: true, add_prefix_space: false}: split text into words with GPT-2's regex,
 * then spell each word's UTF-8 bytes with one printable character per byte, so that a BPE over
 * these characters covers every string without an unknown token.
 */
final class ByteLevel {
    /**
     * GPT-2's split. UNICODE_CHARACTER_CLASS makes {@code \s} the Unicode White_Space set, which is
     * what the Rust library's regex (and GPT-2's Python one) match, e.g. U+3000 in Chinese text.
     */
    private static final Pattern SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** HF tokenizers' JSON of the ByteLevel pre-tokenizer/decoder/post-processor as GPT-2 uses it. */
    static com.fasterxml.jackson.databind.node.ObjectNode json(boolean trimOffsets) {
        return com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("type", "ByteLevel")
                .put("add_prefix_space", false).put("trim_offsets", trimOffsets).put("use_regex", true);
    }

    /** The character that spells byte b (GPT-2's bytes_to_unicode). */
    private static final char[] BYTE_CHAR = new char[256];
    /** The byte a character spells, or -1. */
    private static final int[] CHAR_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            // printable Latin-1 bytes spell themselves; the rest move to 256.. so that none is whitespace or control
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_CHAR[b] = c;
            CHAR_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /** The character that spells byte {@code b} (0..255). */
    static char charOf(int b) {
        return BYTE_CHAR[b & 0xFF];
    }

    /** The words of {@code text} in GPT-2's split, each still as plain text. */
    static List<String> words(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = SPLIT.matcher(text);
        while (m.find()) out.add(m.group());
        return out;
    }

    /** The UTF-8 bytes a byte-level spelling stands for (each character spells one byte). */
    static byte[] bytesOf(String spelled) {
        byte[] out = new byte[spelled.length()];
        for (int i = 0; i < out.length; i++) {
            char c = spelled.charAt(i);
            int b = c < CHAR_BYTE.length ? CHAR_BYTE[c] : -1;
            if (b < 0) throw new IllegalArgumentException("'" + c + "' is not a byte-level character");
            out[i] = (byte) b;
        }
        return out;
    }
}
