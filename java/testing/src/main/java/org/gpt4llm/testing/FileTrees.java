package org.gpt4llm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** What a folder holds, to check that a command left it as it was or left nothing half-written in it. */
public final class FileTrees {
    private FileTrees() {}

    /** The names in {@code dir}, sorted. */
    public static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /**
     * Every file and folder under {@code dir} (itself included), by relative path: a file's SHA-256,
     * and for each its modification time and inode, so that a rewrite with the same bytes shows too.
     */
    public static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                String bytes = a.isRegularFile() ? HexFormat.of().formatHex(sha256().digest(Files.readAllBytes(p))) : "folder";
                out.put(dir.relativize(p).toString(), bytes + " " + a.lastModifiedTime().toMillis() + " " + a.fileKey());
            }
        }
        return out;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
