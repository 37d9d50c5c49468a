package org.gpt4llm.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import org.gpt4llm.datagen.files.FileErrors;

/**
 * Writes that never leave a half-written file under the final name: the bytes go to a hidden temp
 * file in the same directory, are forced to disk, and the temp file is then renamed over the target.
 */
public final class AtomicFiles {
    private static final SecureRandom RANDOM = new SecureRandom();

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
        try {
            return createTemp(target, body);
        } catch (IOException e) {
            throw FileErrors.about("write", target, e); // the file the user named, not the temp file
        }
    }

    private static Path createTemp(Path target, Body body) throws IOException {
        Path dir = parentOf(target);
        for (int attempt = 0; ; attempt++) {
            // Not Files.createTempFile: that makes the file owner-only (0600); this honours the umask.
            Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
            FileChannel out;
            try {
                out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (FileAlreadyExistsException e) {
                if (attempt < 10) continue;
                throw e;
            }
            try (out) {
                body.write(out);
                out.force(true);
            } catch (IOException | RuntimeException | Error e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
            return tmp;
        }
    }

    /** Renames a temp file from {@link #writeTemp} over {@code target}, atomically. */
    static void commit(Path tmp, Path target) throws IOException {
        try {
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw FileErrors.about("write", target, e);
        } catch (RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    /** Writes {@code target} atomically: temp file, fsync, rename, fsync of the directory. */
    public static void write(Path target, Body body) throws IOException {
        commit(writeTemp(target, body), target);
        syncDirectory(parentOf(target));
    }

    /**
     * Writes {@code json} (a tree, or a value Jackson maps such as a record) pretty-printed, with a final
     * newline, to {@code target} atomically.
     */
    public static void writeJson(Path target, Object json) throws IOException {
        write(target, (PRETTY.writeValueAsString(json) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static final com.fasterxml.jackson.databind.ObjectWriter PRETTY =
            new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter();

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, out -> writeFully(out, java.nio.ByteBuffer.wrap(bytes)));
    }

    /** Makes renames in {@code dir} durable; a no-op where the platform cannot open directories. */
    /**
     * Appends {@code line} and a newline to {@code file} (created if absent) in one write, flushed to
     * disk: a crash can cut only this line, never an earlier one.
     */
    public static void appendLine(Path file, String line) throws IOException {
        try (FileChannel out = FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.APPEND)) {
            writeFully(out, java.nio.ByteBuffer.wrap((line + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            out.force(true);
        }
    }

    public static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not every platform lets a directory be opened; the renames themselves are still atomic.
        }
    }

    /** Writes all of {@code buf} (looping over partial writes). */
    public static void writeFully(FileChannel out, java.nio.ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }
}
