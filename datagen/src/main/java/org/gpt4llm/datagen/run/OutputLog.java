package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * A job's output: append-only JSONL, one finished item a line,
 * {@code {"key": ..., "settings": {...}, ...record}}: the item's key (its own id, or its content's
 * hash; with an own id also {@code "content_key"}, the content's hash) and the settings that made the
 * record, so a line says what produced it. A record holding one of those names (or being a lone
 * {@code "record"} object) goes under {@code "record"}, so the line's names never overwrite the
 * record's. Earlier versions wrote {@code {"id": <item index>, ...record}} (or {@code "record"} nested
 * likewise); such lines are read as {@link Line#legacyId legacy} lines. Each line goes out in one write
 * (so a killed run leaves at most a partial last line), under a lock (so lines never interleave), and
 * is forced to disk about once a second.
 */
final class OutputLog implements Closeable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long FORCE_EVERY_NANOS = 1_000_000_000L;
    /** Where a record that holds one of the line's own names goes. */
    private static final String NESTED = "record";
    private static final String KEY = "key", CONTENT_KEY = "content_key", SETTINGS = "settings", LEGACY_ID = "id";
    private static final Set<String> LINE_NAMES = Set.of(KEY, CONTENT_KEY, SETTINGS, NESTED);

    /**
     * One line of an output.
     *
     * @param key        the item's key; null on a line of an earlier version
     * @param contentKey the hash of the item's content where the key is an own id, else null
     * @param settings   what made the record; null on a line of an earlier version
     * @param legacyId   an earlier version's {@code "id"} (the item's index), null on a keyed line
     * @param record     the record, without the line's own names
     */
    record Line(String key, String contentKey, JsonNode settings, String legacyId, ObjectNode record) {
        boolean legacy() {
            return key == null;
        }
    }

    private final FileChannel channel;
    private long lastForce = System.nanoTime();

    private OutputLog(FileChannel channel) {
        this.channel = channel;
    }

    /**
     * The lines of {@code file} in file order (none when it does not exist). An unparseable last line
     * (a run killed mid-write) is left out, and with {@code repair} cut off the file with one truncate;
     * an unparseable line before it is an error naming the line.
     */
    static List<Line> read(Path file, boolean repair, PrintWriter notes) throws IOException {
        List<Line> lines = new ArrayList<>();
        if (!Files.exists(file)) return lines;
        byte[] bytes = Files.readAllBytes(file);
        long goodEnd = 0; // bytes up to the end of the last good line
        int lineNo = 0;
        for (int start = 0; start < bytes.length; ) {
            int nl = indexOf(bytes, (byte) '\n', start);
            int end = nl < 0 ? bytes.length : nl;
            lineNo++;
            boolean last = nl < 0 || isBlank(bytes, nl + 1, bytes.length);
            Line line = parse(bytes, start, end);
            if (line == null && !isBlank(bytes, start, end) || nl < 0 && !isBlank(bytes, start, end)) {
                // a line without its newline was cut short by a kill even if what is there parses
                if (!last) {
                    TextFiles.requireUtf8(file, bytes, start, end); // bytes that are not UTF-8 say so, with their offset
                    throw new IOException("line " + lineNo + " of " + file + " is not an output line (a JSON object with"
                            + " a \"key\" and \"settings\", or an earlier version's \"id\"); fix or remove that line to resume");
                }
                if (repair) {
                    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                        ch.truncate(goodEnd);
                        ch.force(true);
                    }
                    notes.println("cut an unfinished last line (" + (bytes.length - goodEnd) + " bytes) off " + file
                            + "; its item will be done again");
                }
                return lines;
            }
            if (line != null) lines.add(line);
            start = nl < 0 ? bytes.length : nl + 1;
            goodEnd = start;
        }
        return lines;
    }

    /** Opens {@code file} (created if missing) for appending; call {@link #read} with repair first. */
    static OutputLog append(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) Files.createDirectories(dir);
        return new OutputLog(FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND));
    }

    /**
     * Appends {@code {"key": key, ["content_key": contentKey,] "settings": settings, ...record}} as one
     * line, the record under {@code "record"} when it holds one of those names or is a lone "record"
     * object (which would read back as the nested form).
     */
    void write(String key, String contentKey, JsonNode settings, ObjectNode record) throws IOException {
        ObjectNode line = JSON.createObjectNode().put(KEY, key);
        if (contentKey != null) line.put(CONTENT_KEY, contentKey);
        line.set(SETTINGS, settings);
        boolean nest = record.size() == 1 && record.get(NESTED) instanceof ObjectNode;
        for (String name : LINE_NAMES) nest |= record.has(name);
        if (nest) line.set(NESTED, record);
        else line.setAll(record);
        writeLine(line);
    }

    synchronized void writeLine(JsonNode line) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap((JSON.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8));
        while (buf.hasRemaining()) channel.write(buf);
        long now = System.nanoTime();
        if (now - lastForce > FORCE_EVERY_NANOS) {
            channel.force(false);
            lastForce = now;
        }
    }

    @Override
    public synchronized void close() throws IOException {
        try {
            channel.force(false);
        } finally {
            channel.close();
        }
    }

    /** The line of {@code bytes[start, end)}, or null when it is blank or not an output line. */
    private static Line parse(byte[] bytes, int start, int end) {
        if (isBlank(bytes, start, end)) return null;
        JsonNode n;
        try {
            n = JSON.readTree(bytes, start, end - start);
        } catch (IOException e) {
            return null;
        }
        if (!(n instanceof ObjectNode o)) return null;
        if (o.path(KEY).isTextual() && o.path(SETTINGS).isObject()) {
            String key = o.remove(KEY).asText();
            JsonNode contentKey = o.remove(CONTENT_KEY);
            JsonNode settings = o.remove(SETTINGS);
            return new Line(key, contentKey != null && contentKey.isTextual() ? contentKey.asText() : null, settings, null, unnest(o));
        }
        if (o.path(LEGACY_ID).isTextual()) {
            String id = o.remove(LEGACY_ID).asText();
            return new Line(null, null, null, id, unnest(o));
        }
        return null;
    }

    private static ObjectNode unnest(ObjectNode rest) {
        return rest.size() == 1 && rest.get(NESTED) instanceof ObjectNode nested ? nested : rest;
    }

    private static int indexOf(byte[] bytes, byte b, int from) {
        for (int i = from; i < bytes.length; i++) if (bytes[i] == b) return i;
        return -1;
    }

    private static boolean isBlank(byte[] bytes, int start, int end) {
        for (int i = start; i < end; i++) if (bytes[i] != ' ' && bytes[i] != '\t' && bytes[i] != '\r' && bytes[i] != '\n') return false;
        return true;
    }
}
