package org.gpt4llm.datagen.files;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The temp files and folders a writer keeps beside its target while it writes, under one recognisable
 * name: {@code .<target>.<writer>-<pid>-<random>.tmp} (plus an extension where an encoder insists on
 * one). The writer's tag and the id of the process that made the temp are in the name, so the next
 * run of the same writer on the same target can remove what a killed run left: the temps of its own
 * tag whose process is gone, and nothing else (a live process's temp, even one of this process, is
 * never touched). Every temp is created as any new file or folder is, so what is renamed from it
 * keeps the permissions of the user's umask.
 */
public final class TempFiles {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final long PID = ProcessHandle.current().pid();

    private TempFiles() {}

    /** A fresh temp name beside {@code target} for {@code writer} (lower-case letters, digits and dashes). */
    public static Path name(Path target, String writer) {
        return name(target, writer, "");
    }

    /** {@link #name(Path, String)} ending in {@code extension} (".png"), for encoders that add their own. */
    public static Path name(Path target, String writer, String extension) {
        if (!writer.matches("[a-z0-9-]+")) throw new IllegalArgumentException("not a writer tag: " + writer);
        Path abs = target.toAbsolutePath();
        return abs.resolveSibling("." + abs.getFileName() + "." + writer + "-" + PID + "-"
                + String.format("%016x", RANDOM.nextLong()) + ".tmp" + extension);
    }

    /** Creates a new, empty temp folder beside {@code target} (its parent folder created if missing). */
    public static Path createDirectory(Path target, String writer) throws IOException {
        Files.createDirectories(target.toAbsolutePath().getParent());
        for (int attempt = 0; ; attempt++) {
            try {
                return Files.createDirectory(name(target, writer));
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 10) throw e;
            }
        }
    }

    /**
     * Removes the temps {@code writer} left beside {@code target} in processes that are gone, with a
     * one-line note on stderr; returns how many. A folder that cannot be listed has none to remove.
     */
    public static int removeStale(Path target, String writer) throws IOException {
        Path abs = target.toAbsolutePath();
        return remove(abs.getParent(), writer, Pattern.quote(abs.getFileName().toString()), abs.toString());
    }

    /** {@link #removeStale(Path, String)} for every target in {@code dir} at once. */
    public static int removeStaleIn(Path dir, String writer) throws IOException {
        return remove(dir.toAbsolutePath(), writer, ".+", dir.toString());
    }

    private static int remove(Path dir, String writer, String target, String where) throws IOException {
        if (dir == null || !Files.isDirectory(dir)) return 0;
        Pattern p = Pattern.compile("\\.(" + target + ")\\." + Pattern.quote(writer) + "-(\\d+)-[0-9a-f]{16}\\.tmp(\\.[A-Za-z0-9]+)?");
        List<Path> stale = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "." + "*." + writer + "-*.tmp*")) {
            for (Path f : s) {
                Matcher m = p.matcher(f.getFileName().toString());
                if (m.matches() && !alive(Long.parseLong(m.group(2)))) stale.add(f);
            }
        } catch (java.nio.file.AccessDeniedException e) {
            return 0;
        }
        if (stale.isEmpty()) return 0;
        stale.sort(Comparator.naturalOrder());
        for (Path f : stale) deleteTree(f);
        // stderr, as every command's other notes
        System.err.println("note: removed " + (stale.size() == 1 ? "the temp " : stale.size() + " temps ")
                + stale.stream().map(f -> f.getFileName().toString()).toList()
                + " that a stopped run left beside " + where);
        return stale.size();
    }

    private static boolean alive(long pid) {
        return pid == PID || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /** Deletes {@code path} and everything under it; nothing there is fine. */
    public static void deleteTree(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        if (!Files.isDirectory(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.deleteIfExists(path);
            return;
        }
        try (Stream<Path> s = Files.walk(path)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                try {
                    Files.deleteIfExists(p);
                } catch (NoSuchFileException e) {
                    // removed meanwhile: what was wanted
                }
            }
        }
    }
}
