package org.gpt4llm.datagen.files;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.NotLinkException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * File system failures as one sentence: what was being done, to which path, and why, e.g. {@code cannot
 * create the folder /x/run: permission denied}. Java's own messages say less: an
 * {@link AccessDeniedException}'s is just the path, a full disk's just "No space left on device".
 */
public final class FileErrors {
    /** java.io's message for a file it cannot open: "PATH (REASON)". */
    private static final Pattern JAVA_IO = Pattern.compile("(.+) \\(([^()]+)\\)");

    /** What each of Java's file methods does, in words, for failures whose operation nobody named. */
    private static final Map<String, String> OPERATIONS = new HashMap<>();

    static {
        operations("java.nio.file.Files", "create the folder", "createDirectory", "createDirectories", "createTempDirectory");
        operations("java.nio.file.Files", "create", "createFile", "createTempFile", "createLink", "createSymbolicLink");
        operations("java.nio.file.Files", "write", "newOutputStream", "newBufferedWriter", "write", "writeString",
                "setAttribute", "setPosixFilePermissions", "setLastModifiedTime");
        operations("java.nio.file.Files", "read", "newInputStream", "newBufferedReader", "readAllBytes", "readString",
                "readAllLines", "lines", "size", "readAttributes", "getLastModifiedTime", "mismatch");
        operations("java.nio.file.Files", "list the folder", "list", "walk", "find", "walkFileTree", "newDirectoryStream");
        operations("java.nio.file.Files", "move", "move");
        operations("java.nio.file.Files", "copy", "copy");
        operations("java.nio.file.Files", "delete", "delete", "deleteIfExists");
        operations("java.nio.file.Files", "open", "newByteChannel");
        operations("java.nio.channels.FileChannel", "open", "open");
        operations("sun.nio.ch.FileChannelImpl", "write", "write", "force", "truncate", "transferFrom");
        operations("sun.nio.ch.FileChannelImpl", "read", "read", "map", "transferTo");
        operations("java.io.FileOutputStream", "write", "<init>", "write");
        operations("java.io.FileInputStream", "read", "<init>", "read", "readAllBytes");
        operations("java.io.RandomAccessFile", "open", "<init>");
    }

    private static void operations(String type, String operation, String... methods) {
        for (String m : methods) OPERATIONS.put(type + "." + m, operation);
    }

    private FileErrors() {}

    /**
     * {@code e} as one sentence: for a failure of the file system {@code cannot OPERATION PATH: REASON},
     * the operation read off the Java method that failed; any other exception's own message.
     */
    public static String sentence(IOException e) {
        if (e instanceof FileSystemException f && f.getFile() != null) {
            String what = f.getOtherFile() == null ? f.getFile() : f.getFile() + " to " + f.getOtherFile();
            String op = operation(e);
            return (op == null ? what : "cannot " + op + " " + what) + ": " + reason(e);
        }
        Matcher io = javaIo(e);
        if (io != null) {
            String op = operation(e);
            return "cannot " + (op == null ? "open" : op) + " " + io.group(1) + ": " + words(io.group(2), pathOf(io.group(1)));
        }
        if (isOsFailure(e.getMessage())) {
            String op = operation(e);
            return (op == null ? "" : "cannot " + op + ": ") + words(e.getMessage(), null);
        }
        return e.getMessage();
    }

    /**
     * {@code e}, a failure while doing {@code operation} ("write", "create the folder") to {@code path}, as
     * a {@link FileOperationException} that names {@code path} whatever file the failure was on (a temp
     * file written on the way, say); any other exception unchanged.
     */
    public static IOException about(String operation, Path path, IOException e) {
        if (e instanceof FileOperationException || !isFileSystemFailure(e)) return e;
        return new FileOperationException(operation, path, reasonFor(path, e), e);
    }

    /** {@link #reason}, naming the folder on the way to {@code named} that the failure was on, when it was on one. */
    private static String reasonFor(Path named, IOException e) {
        Path at = e instanceof FileSystemException f && f.getFile() != null ? pathOf(f.getFile()) : null;
        if (at != null && isAbove(at, named)) {
            if (e instanceof FileAlreadyExistsException && Files.exists(at) && !Files.isDirectory(at)) {
                return at + " is a file, not a folder";
            }
            if (e instanceof AccessDeniedException) return "permission denied on " + at;
        }
        return reason(e);
    }

    private static boolean isAbove(Path folder, Path path) {
        Path f = folder.toAbsolutePath().normalize(), p = path.toAbsolutePath().normalize();
        return !f.equals(p) && p.startsWith(f);
    }

    /** Whether {@code e} is the operating system refusing a file operation (not bad content, say). */
    public static boolean isFileSystemFailure(IOException e) {
        return e instanceof FileSystemException f && f.getFile() != null || javaIo(e) != null || isOsFailure(e.getMessage());
    }

    /** Why {@code e} failed, in words: "permission denied", "no space left on the device", ...; else its message. */
    public static String reason(IOException e) {
        if (e instanceof FileOperationException f) return f.reason();
        if (!(e instanceof FileSystemException f) || f.getFile() == null) {
            Matcher io = javaIo(e);
            if (io != null) return words(io.group(2), pathOf(io.group(1)));
            return isOsFailure(e.getMessage()) ? words(e.getMessage(), null) : e.getMessage();
        }
        Path path = pathOf(f.getFile());
        return switch (e) {
            case AccessDeniedException x -> "permission denied";
            case NoSuchFileException x -> missing(path);
            case FileAlreadyExistsException x -> path != null && Files.isDirectory(path) ? "a folder of that name already exists"
                    : path != null && Files.exists(path) ? "a file of that name already exists" : "it already exists";
            case DirectoryNotEmptyException x -> "the folder is not empty";
            case NotDirectoryException x -> "it is not a folder";
            case NotLinkException x -> "it is not a symbolic link";
            case FileSystemLoopException x -> "its symbolic links form a loop";
            default -> f.getReason() == null ? "the file system refused" : words(f.getReason(), path);
        };
    }

    /** The operating system's words for an error (strerror's), as the end of a sentence. */
    private static String words(String os, Path path) {
        return switch (os) {
            case "Permission denied" -> "permission denied";
            case "Operation not permitted" -> "the operation is not permitted";
            case "No such file or directory" -> missing(path);
            case "Not a directory" -> notAFolder(path);
            case "Is a directory" -> "it is a folder";
            case "File exists" -> "it already exists";
            case "Directory not empty" -> "the folder is not empty";
            case "No space left on device" -> "no space left on the device";
            case "Disk quota exceeded" -> "the disk quota is used up";
            case "Read-only file system" -> "the file system is read-only";
            case "File name too long" -> "the name is too long";
            case "Too many open files" -> "too many files are open";
            case "Input/output error" -> "an input/output error (a failing disk or network file system)";
            default -> os.isEmpty() ? os : Character.toLowerCase(os.charAt(0)) + os.substring(1);
        };
    }

    /** Errors the operating system reports without a path (a write to a full disk, say). */
    private static boolean isOsFailure(String message) {
        return message != null && switch (message) {
            case "Permission denied", "Operation not permitted", "No such file or directory", "Not a directory",
                 "Is a directory", "No space left on device", "Disk quota exceeded", "Read-only file system",
                 "Too many open files", "Input/output error" -> true;
            default -> false;
        };
    }

    /** Why a path is missing: itself, or the highest of its folders that is. */
    private static String missing(Path path) {
        if (path == null) return "it does not exist";
        Path absent = null;
        for (Path p = path.toAbsolutePath().getParent(); p != null && !Files.exists(p); p = p.getParent()) absent = p;
        return absent == null ? "it does not exist" : "the folder " + absent + " does not exist";
    }

    /** Which part of a path is a file where a folder should be. */
    private static String notAFolder(Path path) {
        if (path != null) {
            for (Path p = path.toAbsolutePath().getParent(); p != null; p = p.getParent()) {
                if (Files.exists(p) && !Files.isDirectory(p)) return p + " is a file, not a folder";
            }
        }
        return "a part of its path is not a folder";
    }

    /** The path and reason of java.io's "PATH (REASON)" message, else null. */
    private static Matcher javaIo(IOException e) {
        if (!(e instanceof FileNotFoundException) || e.getMessage() == null) return null;
        Matcher m = JAVA_IO.matcher(e.getMessage());
        return m.matches() ? m : null;
    }

    private static Path pathOf(String file) {
        try {
            return Path.of(file);
        } catch (InvalidPathException e) {
            return null;
        }
    }

    /**
     * The operation of the outermost of Java's file methods in {@code e}'s stack, the one gpt4llm (or a
     * library) called, e.g. "create the folder" for {@code Files.createDirectories}; null if none is there.
     */
    private static String operation(Throwable e) {
        String found = null;
        for (StackTraceElement frame : e.getStackTrace()) {
            String type = frame.getClassName();
            String op = OPERATIONS.get(type + "." + frame.getMethodName());
            if (op != null) {
                found = op;
            } else if (found != null && !(type.startsWith("java.") || type.startsWith("sun.") || type.startsWith("jdk."))) {
                break;
            }
        }
        return found;
    }
}
