package org.gpt4llm.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.gpt4llm.datagen.files.AtomicWrite;
import org.gpt4llm.datagen.files.TempFiles;

/**
 * Writes that never leave a half-written file under the final name ({@link AtomicWrite}): the bytes go
 * to a hidden temp file {@code .NAME.write-PID-RANDOM.tmp} beside the target, are forced to disk, and
 * the temp file is renamed over the target. A temp file a killed write left is removed by the next
 * write of the same target ({@link TempFiles}).
 */
public final class AtomicFiles {
    /** The tag of this writer's temp files. */
    public static final String WRITER = "write";

    private AtomicFiles() {
    }

    /** What fills a freshly created, empty temp file. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel out) throws IOException;
    }

    /** The directory {@code file} lives in, created if missing. */
    static Path parentOf(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        return dir;
    }

    /**
     * Writes {@code body} into a new temp file next to {@code target} and forces it to disk; the
     * caller {@link #commit commits} it. On failure the temp file is removed and the error rethrown.
     */
    static Path writeTemp(Path target, Body body) throws IOException {
        return AtomicWrite.writeTemp(target, WRITER, body::write);
    }

    /** Renames a temp file from {@link #writeTemp} over {@code target}, atomically. */
    static void commit(Path tmp, Path target) throws IOException {
        AtomicWrite.commit(tmp, target);
    }

    /** Removes the temp files killed writes left in {@code dir}, whatever their target. */
    static void removeStaleTemps(Path dir) throws IOException {
        TempFiles.removeStaleIn(dir, WRITER);
    }

    /** Writes {@code target} atomically: temp file, fsync, rename, fsync of the directory. */
    public static void write(Path target, Body body) throws IOException {
        AtomicWrite.write(target, WRITER, body::write);
    }

    /**
     * Writes {@code json} (a tree, or a value Jackson maps such as a record) pretty-printed, with a final
     * newline, to {@code target} atomically.
     */
    public static void writeJson(Path target, Object json) throws IOException {
        write(target, (PRETTY.writeValueAsString(json) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private static final com.fasterxml.jackson.databind.ObjectWriter PRETTY =
            new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter();

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void write(Path target, byte[] bytes) throws IOException {
        AtomicWrite.write(target, WRITER, bytes);
    }

    /** Copies {@code source} to {@code target} atomically; the copy gets the umask's permissions. */
    public static void copy(Path source, Path target) throws IOException {
        AtomicWrite.copy(source, target, WRITER);
    }

    /**
     * Appends {@code line} and a newline to {@code file} (created if absent) in one write, flushed to
     * disk: a crash can cut only this line, never an earlier one.
     */
    public static void appendLine(Path file, String line) throws IOException {
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND)) {
            writeFully(out, ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8)));
            out.force(true);
        }
    }

    /** Makes renames in {@code dir} durable; a no-op where the platform cannot open directories. */
    public static void syncDirectory(Path dir) {
        AtomicWrite.syncDirectory(dir);
    }

    /** Writes all of {@code buf} (looping over partial writes). */
    public static void writeFully(FileChannel out, ByteBuffer buf) throws IOException {
        AtomicWrite.writeFully(out, buf);
    }
}
