package org.gpt4llm.datagen.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Text files decoded as UTF-8, and bytes that are not UTF-8 named by file, line and offset. */
class TextFilesTest {
    private static final String END = "not UTF-8; gpt4llm reads its text and JSON files as UTF-8";

    @TempDir
    Path dir;

    /** Random lines of ASCII, accented, CJK and emoji text (1 to 4 bytes a character), as UTF-8. */
    private static String randomLines(Random r, int lines) {
        String[] pieces = {"a", "Z", " ", "{\"k\": 1}", "é", "ß", "中文", "𝄞", "😀", "\uFFFD"};
        StringBuilder sb = new StringBuilder();
        for (int l = 0; l < lines; l++) {
            for (int n = r.nextInt(12); n > 0; n--) sb.append(pieces[r.nextInt(pieces.length)]);
            sb.append(r.nextBoolean() ? "\n" : "\r\n");
        }
        return sb.toString();
    }

    @Test
    void aStrayByteIsNamedByItsLineAndOffset() throws IOException {
        Random r = TestSeeds.random();
        for (int trial = 0; trial < 20; trial++) {
            byte[] before = randomLines(r, 1 + r.nextInt(30)).getBytes(StandardCharsets.UTF_8);
            byte[] after = randomLines(r, r.nextInt(5)).getBytes(StandardCharsets.UTF_8);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            bytes.writeBytes(before);
            bytes.write(0xff);
            bytes.writeBytes(after);
            Path file = Files.write(dir.resolve("data" + trial + ".json"), bytes.toByteArray());
            long line = 1 + new String(before, StandardCharsets.UTF_8).chars().filter(c -> c == '\n').count();

            NotUtf8Exception e = assertThrows(NotUtf8Exception.class, () -> TextFiles.read(file));
            assertEquals(file + " line " + line + " (byte " + before.length + "): the byte 0xff is " + END, e.getMessage());
            assertEquals(line, e.line());
            assertEquals(before.length, e.offset());
            assertEquals(file, e.file());
        }
    }

    @Test
    void validTextReadsAsItIsEvenWithAReplacementCharacterInIt() throws IOException {
        String text = randomLines(TestSeeds.random(), 50) + "\uFFFD";
        Path file = Files.writeString(dir.resolve("ok.txt"), text);
        assertEquals(text, TextFiles.read(file));
        assertEquals(Files.readAllLines(file), TextFiles.lines(file));
    }

    @Test
    void aCharacterCutShortAndAUtf16FileAreNamedToo() throws IOException {
        // the first two bytes of "€" (0xe2 0x82 0xac), then a newline
        Path cut = Files.write(dir.resolve("cut.jsonl"), new byte[] {'{', '}', '\n', 'a', (byte) 0xe2, (byte) 0x82, '\n'});
        NotUtf8Exception e = assertThrows(NotUtf8Exception.class, () -> TextFiles.read(cut));
        assertEquals(cut + " line 2 (byte 4): the bytes 0xe2 0x82 are " + END, e.getMessage());

        // "hi" as Windows saves "Unicode" text: UTF-16LE after its byte order mark
        Path utf16 = Files.write(dir.resolve("utf16.txt"), new byte[] {(byte) 0xff, (byte) 0xfe, 'h', 0, 'i', 0});
        String m = assertThrows(NotUtf8Exception.class, () -> TextFiles.read(utf16)).getMessage();
        assertTrue(m.startsWith(utf16 + " line 1 (byte 0): the byte 0xff is not UTF-8") && m.contains("UTF-16"), m);
    }

    @Test
    void aLogMayEndInACutCharacterButNotHaveOneBefore() throws IOException {
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8);
        Path log = Files.write(dir.resolve("log.jsonl"), new byte[] {'{', '}', '\n', '{', '"', euro[0], euro[1]});
        assertEquals("{}\n{\"\uFFFD", TextFiles.readLog(log));
        Path bad = Files.write(dir.resolve("bad.jsonl"), new byte[] {'{', (byte) 0xc0, '}', '\n', '{', '"'});
        assertEquals(bad + " line 1 (byte 1): the byte 0xc0 is " + END,
                assertThrows(NotUtf8Exception.class, () -> TextFiles.readLog(bad)).getMessage());
    }

    @Test
    void aMissingFileIsOneSentence() {
        Path missing = dir.resolve("none.json");
        for (TextFilesCall call : List.<TextFilesCall>of(TextFiles::read, TextFiles::readLog, TextFiles::lines)) {
            NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> call.read(missing));
            assertEquals(missing + " does not exist or is not a file", e.getMessage());
            assertEquals(e.getMessage(), FileErrors.sentence(e), "a sentence already: left as it is");
        }
        assertThrows(NoSuchFileException.class, () -> TextFiles.read(dir), "a folder is not a file");
    }

    private interface TextFilesCall {
        Object read(Path file) throws IOException;
    }
}
