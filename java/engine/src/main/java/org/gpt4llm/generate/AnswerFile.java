package org.gpt4llm.generate;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.gpt4llm.io.AtomicFiles;

/**
 * A JSONL file of FastChat answer records, appended to one batch at a time and flushed, so a killed
 * run loses at most the batch in flight. On restart the question ids already answered are skipped; a
 * last line cut short by the kill is dropped (the file is truncated to its last whole record).
 */
public final class AnswerFile implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** shortuuid's alphabet: no 0/O, 1/I/l look-alikes. */
    private static final String ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final OutputStream out;

    private AnswerFile(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Opens {@code file} for appending, after dropping a cut-off last line; returns it with the ids it already holds. */
    public static AnswerFile resume(Path file, Set<String> answered) throws IOException {
        answered.addAll(repair(file, null));
        return new AnswerFile(file);
    }

    /**
     * Drops a cut-off last line and, when {@code keep} is given, every record whose question is not in it
     * (and repeats); returns the question ids the file then holds. A bad line before the last is an error.
     */
    public static Set<String> repair(Path file, Set<String> keep) throws IOException {
        Set<String> ids = new LinkedHashSet<>();
        if (!Files.exists(file)) return ids;
        byte[] bytes = Files.readAllBytes(file);
        String text = new String(bytes, StandardCharsets.UTF_8);
        List<String> kept = new ArrayList<>();
        int start = 0, line = 0;
        boolean changed = false;
        while (start < text.length()) {
            line++;
            int end = text.indexOf('\n', start);
            String l = end < 0 ? text.substring(start) : text.substring(start, end);
            boolean last = end < 0 || end == text.length() - 1;
            start = end < 0 ? text.length() : end + 1;
            if (l.isBlank()) {
                changed = true;
                continue;
            }
            JsonNode n;
            try {
                n = JSON.readTree(l);
            } catch (JacksonException e) {
                n = null;
            }
            if (n == null || !n.has("question_id") || end < 0) {
                if (last) { // a run killed mid-write: that record is written again
                    changed = true;
                    break;
                }
                throw new IOException(file + ":" + line + " is not an answer record; fix or remove the line to resume");
            }
            String id = n.get("question_id").asText();
            if ((keep != null && !keep.contains(id)) || !ids.add(id)) {
                changed = true;
                continue;
            }
            kept.add(l);
        }
        if (changed) {
            StringBuilder sb = new StringBuilder();
            for (String l : kept) sb.append(l).append('\n');
            AtomicFiles.write(file, sb.toString().getBytes(StandardCharsets.UTF_8));
        }
        return ids;
    }

    /** Appends the records, one line each, and flushes them to the disk. */
    public void write(List<? extends JsonNode> records) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (JsonNode r : records) sb.append(JSON.writeValueAsString(r)).append('\n');
        out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** A random 22-character id in shortuuid's alphabet, as FastChat's answer_id. */
    public static String answerId() {
        StringBuilder sb = new StringBuilder(22);
        for (int i = 0; i < 22; i++) sb.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
        return sb.toString();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
