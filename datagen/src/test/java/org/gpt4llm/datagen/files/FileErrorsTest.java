package org.gpt4llm.datagen.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.FileNotFoundException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * File system failures told as "cannot OPERATION PATH: REASON": provoked for real in ways that do not
 * depend on who runs the test (a file where a folder should be, a folder where a file should be, a full
 * device), and built by hand for the refusals that need another user (permission denied).
 */
class FileErrorsTest {
    @TempDir
    Path dir;

    private static String sentenceOf(FileWork work) {
        return FileErrors.sentence(assertThrows(IOException.class, work::run));
    }

    private interface FileWork {
        void run() throws IOException;
    }

    @Test
    void aFileWhereAFolderShouldBe() throws IOException {
        Path file = Files.writeString(dir.resolve("notes.txt"), "x");
        assertEquals("cannot create the folder " + file.resolve("run") + ": " + file + " is a file, not a folder",
                sentenceOf(() -> Files.createDirectories(file.resolve("run"))));
        assertEquals("cannot write " + file.resolve("run/a.json") + ": " + file + " is a file, not a folder",
                sentenceOf(() -> Files.writeString(file.resolve("run/a.json"), "{}")));
        assertEquals("cannot create the folder " + file + ": a file of that name already exists",
                sentenceOf(() -> Files.createDirectories(file)));
        assertEquals("cannot write " + file.resolve("q") + ": " + file + " is a file, not a folder",
                sentenceOf(() -> new FileOutputStream(file.resolve("q").toFile()).close()));
    }

    @Test
    void aFolderWhereAFileShouldBeAndThingsThatAreNotThere() throws IOException {
        Path sub = Files.createDirectories(dir.resolve("out/sub"));
        assertEquals("cannot write " + sub + ": it is a folder", sentenceOf(() -> Files.writeString(sub, "x")));
        assertEquals("cannot delete " + sub.getParent() + ": the folder is not empty", sentenceOf(() -> Files.delete(sub.getParent())));
        assertEquals("cannot read " + dir.resolve("none.json") + ": it does not exist",
                sentenceOf(() -> Files.readAllBytes(dir.resolve("none.json"))));
        assertEquals("cannot write " + dir.resolve("a/b/c.json") + ": the folder " + dir.resolve("a") + " does not exist",
                sentenceOf(() -> Files.writeString(dir.resolve("a/b/c.json"), "x")));
        Path a = Files.writeString(dir.resolve("a.txt"), "a"), b = Files.writeString(dir.resolve("b.txt"), "b");
        assertEquals("cannot move " + b + ": a file of that name already exists", sentenceOf(() -> Files.move(a, b)));
    }

    @Test
    void aFullDeviceNamesTheFileTheUserAskedFor() {
        Path full = Path.of("/dev/full");
        assumeTrue(Files.isWritable(full), "a Linux /dev/full, which refuses every write with ENOSPC");
        FileWork fill = () -> {
            try (FileChannel ch = FileChannel.open(full, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[64]));
            }
        };
        // Java's message is "No space left on device", with no path
        assertEquals("cannot write: no space left on the device", sentenceOf(fill));
        IOException e = assertThrows(IOException.class, fill::run);
        Path target = dir.resolve("model.safetensors");
        IOException named = FileErrors.about("write", target, e);
        assertEquals("cannot write " + target + ": no space left on the device", named.getMessage());
        assertSame(e, named.getCause());
        assertEquals("no space left on the device", FileErrors.reason(named));
    }

    @Test
    void theUsersTargetIsNamedNotTheTempFileThatFailed() {
        Path target = Path.of("/x/run/config.json"), temp = Path.of("/x/run/.config.json.3f2a.tmp");
        assertEquals("cannot write " + target + ": permission denied",
                FileErrors.about("write", target, new AccessDeniedException(temp.toString())).getMessage());
        assertEquals("cannot write " + target + ": permission denied on /x/run",
                FileErrors.about("write", target, new AccessDeniedException("/x/run")).getMessage());
        assertEquals("cannot write " + target + ": the file system is read-only",
                FileErrors.about("write", target, new FileSystemException(temp.toString(), null, "Read-only file system")).getMessage());
        assertEquals("cannot create the folder /x/run: the disk quota is used up",
                FileErrors.about("create the folder", Path.of("/x/run"), new IOException("Disk quota exceeded")).getMessage());
    }

    @Test
    void handMadeRefusalsAreTranslatedToo() {
        // an AccessDeniedException's message is its path alone
        AccessDeniedException denied = new AccessDeniedException("/x/run");
        assertEquals("/x/run", denied.getMessage());
        assertEquals("/x/run: permission denied", FileErrors.sentence(denied));
        assertEquals("/x/a to /x/b: the operation is not permitted",
                FileErrors.sentence(new FileSystemException("/x/a", "/x/b", "Operation not permitted")));
        assertEquals("cannot open /x/run/log.txt: permission denied",
                FileErrors.sentence(new FileNotFoundException("/x/run/log.txt (Permission denied)")));
        assertEquals("/x/data.json: an input/output error (a failing disk or network file system)",
                FileErrors.sentence(new FileSystemException("/x/data.json", null, "Input/output error")));
    }

    @Test
    void otherErrorsAreLeftAsTheyAre() {
        IOException content = new IOException("data.json line 3 is not JSON: unexpected end");
        assertSame(content, FileErrors.about("read", Path.of("data.json"), content));
        assertEquals(content.getMessage(), FileErrors.sentence(content));
        NoSuchFileException sentence = new NoSuchFileException(null, null, "data.json does not exist or is not a file");
        assertSame(sentence, FileErrors.about("read", Path.of("data.json"), sentence));
        assertEquals("data.json does not exist or is not a file", FileErrors.sentence(sentence));
        IOException done = FileErrors.about("write", Path.of("/x/a"), new AccessDeniedException("/x/.a.tmp"));
        assertSame(done, FileErrors.about("write", Path.of("/x/b"), done), "named once, by the innermost operation");
    }
}
