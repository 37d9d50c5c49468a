package org.gpt4llm.datagen.files;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The text of the files a user hands gpt4llm (data, questions, configs, tokenizers), decoded as UTF-8
 * and nothing else. A byte that is not UTF-8 is a {@link NotUtf8Exception} naming the file, the line
 * and the byte offset, where Java itself says only "Input length = 1" (or, decoding leniently, turns
 * the byte into U+FFFD without a word). Every reader of such files decodes here.
 */
public final class TextFiles {
    /** The end of every undecodable-byte message. */
    static final String ENCODING = "gpt4llm reads its text and JSON files as UTF-8";

    private TextFiles() {}

    /** The whole text of {@code file}; an IOException "FILE does not exist or is not a file" when it is no file. */
    public static String read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw notAFile(file);
        return decode(file, Files.readAllBytes(file));
    }

    /**
     * The text of an append-only log whose last line a killed run may have cut short, perhaps inside a
     * character: the lines up to the last newline are decoded as {@link #read} does, what follows it (the
     * unfinished line the caller drops) leniently.
     */
    public static String readLog(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw notAFile(file);
        byte[] bytes = Files.readAllBytes(file);
        int whole = bytes.length;
        while (whole > 0 && bytes[whole - 1] != '\n') whole--;
        return decode(file, bytes, 0, whole) + new String(bytes, whole, bytes.length - whole, StandardCharsets.UTF_8);
    }

    /** The lines of {@code file}, split as {@link Files#readAllLines} splits them (\n, \r\n or \r; no final empty line). */
    public static List<String> lines(Path file) throws IOException {
        return read(file).lines().toList();
    }

    /** {@code bytes}, the content of {@code file}, as text. */
    public static String decode(Path file, byte[] bytes) throws NotUtf8Exception {
        return decode(file, bytes, 0, bytes.length);
    }

    /**
     * Bytes {@code from} to {@code to} of {@code bytes}, the content of {@code file}, as text; a message
     * counts lines and offsets from the start of {@code bytes}.
     */
    public static String decode(Path file, byte[] bytes, int from, int to) throws NotUtf8Exception {
        String text = new String(bytes, from, to - from, StandardCharsets.UTF_8);
        // the lenient decoder above is the fast one; it writes U+FFFD for every bad byte, so only
        // text holding U+FFFD (a bad byte, or that character written as UTF-8) needs the strict one
        if (text.indexOf('\uFFFD') >= 0) requireUtf8(file, bytes, from, to);
        return text;
    }

    /** Throws the {@link NotUtf8Exception} for the first bytes of {@code bytes[from, to)} that are not UTF-8, if any. */
    public static void requireUtf8(Path file, byte[] bytes, int from, int to) throws NotUtf8Exception {
        CharsetDecoder strict = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, from, to - from);
        CharBuffer out = CharBuffer.allocate(Math.min(to - from, 1 << 16));
        while (true) {
            CoderResult r = strict.decode(in, out, true);
            if (r.isError()) throw notUtf8(file, bytes, in.position(), r.length());
            if (r.isUnderflow()) return;
            out.clear(); // overflow: only the position of an error matters, not the text
        }
    }

    private static NoSuchFileException notAFile(Path file) {
        // with no file of its own the exception's message is exactly this sentence (FileErrors leaves it so)
        return new NoSuchFileException(null, null, file + " does not exist or is not a file");
    }

    /** The message for the {@code length} bad bytes at {@code offset} of {@code bytes}, the content of {@code file}. */
    static NotUtf8Exception notUtf8(Path file, byte[] bytes, int offset, int length) {
        long line = 1;
        for (int i = 0; i < offset; i++) if (bytes[i] == '\n') line++;
        StringBuilder shown = new StringBuilder();
        for (int i = offset; i < offset + length; i++) {
            shown.append(shown.isEmpty() ? "" : " ").append(String.format(Locale.ROOT, "0x%02x", bytes[i] & 0xff));
        }
        String what = length == 1 ? "the byte " + shown + " is" : "the bytes " + shown + " are";
        boolean utf16 = bytes.length >= 2 && ((bytes[0] & 0xff) == 0xff && (bytes[1] & 0xff) == 0xfe
                || (bytes[0] & 0xff) == 0xfe && (bytes[1] & 0xff) == 0xff);
        String hint = utf16 ? " (this file starts with the byte order mark of UTF-16: save it as UTF-8)" : "";
        return new NotUtf8Exception(file, line, offset, file + " line " + line + " (byte " + offset + "): " + what
                + " not UTF-8; " + ENCODING + hint);
    }
}
