package org.gpt4llm.io;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * What a file held when it was read: its size and the SHA-256 of its bytes, read once in 1 MiB
 * pieces (data files can be hundreds of megabytes).
 *
 * @param path   the file as it was named (a flag's value)
 * @param size   bytes
 * @param sha256 lower-case hex
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record FileFingerprint(String path, long size, String sha256) {
    /** The fingerprint of {@code path} now; a missing or unreadable file is an IOException naming it. */
    public static FileFingerprint of(String path) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        long size = 0;
        try (FileChannel in = FileChannel.open(Path.of(path), StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            for (int n; (n = in.read(buf.clear())) >= 0; ) {
                size += n;
                sha.update(buf.flip());
            }
        } catch (NoSuchFileException e) {
            throw new IOException(path + " does not exist", e);
        }
        return new FileFingerprint(path, size, HexFormat.of().formatHex(sha.digest()));
    }

    /**
     * What differs between this file as it was ({@code this}) and {@code now}, in words ("its size is
     * now 120 bytes, was 100"), or null when nothing does.
     */
    public String change(FileFingerprint now) {
        if (size != now.size) {
            return String.format(Locale.ROOT, "its size is now %,d bytes, was %,d", now.size, size);
        }
        if (!sha256.equals(now.sha256)) {
            return "its content differs (SHA-256 now " + now.sha256.substring(0, 12) + "..., was " + sha256.substring(0, 12)
                    + "...) at the same size";
        }
        return null;
    }
}
