package org.gpt4llm.datagen.files;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes that never leave a half-written file under the final name: the bytes go to a
 * {@link TempFiles temp} beside the target, are forced to disk, and the temp is renamed over the
 * target. A write first removes the temps a killed earlier write of the same target left.
 */
public final class AtomicWrite {
    private AtomicWrite() {}

    /** What fills a freshly created, empty temp file. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel out) throws IOException;
    }

    /**
     * Writes {@code body} into a new temp file of {@code writer} beside {@code target} and forces it to
     * disk; the caller {@link #commit commits} it. On failure the temp file is removed and the error
     * rethrown, naming the target the user gave, not the temp file.
     */
    public static Path writeTemp(Path target, String writer, Body body) throws IOException {
        try {
            return createTemp(target, writer, body);
        } catch (IOException e) {
            throw FileErrors.about("write", target, e);
        }
    }

    private static Path createTemp(Path target, String writer, Body body) throws IOException {
        createFolderOf(target);
        TempFiles.removeStale(target, writer);
        for (int attempt = 0; ; attempt++) {
            // Not Files.createTempFile: that makes the file owner-only (0600); this honours the umask.
            Path tmp = TempFiles.name(target, writer);
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

    /** The folder {@code target} goes in, created if missing; a failure names the target (and the folder in the way). */
    private static void createFolderOf(Path target) throws IOException {
        try {
            Files.createDirectories(target.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw FileErrors.about("write", target, e);
        }
    }

    /** Renames a temp file from {@link #writeTemp} over {@code target}, atomically where the file system can. */
    public static void commit(Path tmp, Path target) throws IOException {
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

    /** Writes {@code target} atomically: temp file, fsync, rename, fsync of the folder. */
    public static void write(Path target, String writer, Body body) throws IOException {
        commit(writeTemp(target, writer, body), target);
        syncDirectory(target.toAbsolutePath().getParent());
    }

    /** Writes a whole file at the path it is given, for encoders that open the file themselves. */
    @FunctionalInterface
    public interface PathBody {
        void write(Path tmp) throws IOException;
    }

    /**
     * Writes {@code target} atomically through an encoder that names its file itself: {@code body}
     * writes a temp file whose name ends in {@code extension} (".png", for encoders that would add it),
     * which is forced to disk and renamed over {@code target}.
     */
    public static void write(Path target, String writer, String extension, PathBody body) throws IOException {
        createFolderOf(target);
        try {
            TempFiles.removeStale(target, writer);
        } catch (IOException e) {
            throw FileErrors.about("write", target, e);
        }
        Path tmp = TempFiles.name(target, writer, extension);
        try {
            body.write(tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            commit(tmp, target);
        } catch (IOException e) {
            throw FileErrors.about("write", target, e);
        } finally {
            Files.deleteIfExists(tmp);
        }
        syncDirectory(target.toAbsolutePath().getParent());
    }

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void write(Path target, String writer, byte[] bytes) throws IOException {
        write(target, writer, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    /** Copies {@code source} to {@code target} atomically (a new file under the umask, not the source's permissions). */
    public static void copy(Path source, Path target, String writer) throws IOException {
        write(target, writer, out -> {
            try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ)) {
                long size = in.size();
                for (long at = 0; at < size; ) at += in.transferTo(at, size - at, out);
            }
        });
    }

    /** Makes renames in {@code dir} durable; a no-op where the platform cannot open folders. */
    public static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not every platform lets a folder be opened; the renames themselves are still atomic.
        }
    }

    /** Writes all of {@code buf} (looping over partial writes). */
    public static void writeFully(FileChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }
}
