package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.core.JsonProcessingException;
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
import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * A job's output: append-only JSONL, one finished item a line, {@code {"id": ..., ...record}}, or
 * {@code {"id": ..., "record": {...}}} for a record with an {@code "id"} of its own (an Alpaca
 * record that carries its task id, say; also for a record that is a lone {@code "record"} object), so
 * the item's id never overwrites the record's. Each
 * line goes out in one write (so a killed run leaves at most a partial last line), under a lock (so
 * lines never interleave), and is forced to disk about once a second.
 */
final class OutputLog implements Closeable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long FORCE_EVERY_NANOS = 1_000_000_000L;
    /** Where a record with an "id" of its own goes. */
    private static final String NESTED = "record";

    private final FileChannel channel;
    private long lastForce = System.nanoTime();

    private OutputLog(FileChannel channel) {
        this.channel = channel;
    }

    /**
     * The records of {@code file} by id, in file order, without their {@code "id"} (none when it does
     * not exist). An unparseable last line (a run killed mid-write) is left out, and with {@code repair}
     * cut off the file with one truncate; an unparseable line before it is an error naming the line.
     */
    static Map<String, ObjectNode> read(Path file, boolean repair, PrintWriter notes) throws IOException {
        Map<String, ObjectNode> records = new LinkedHashMap<>();
        if (!Files.exists(file)) return records;
        byte[] bytes = Files.readAllBytes(file);
        long goodEnd = 0; // bytes up to the end of the last good line
        int lineNo = 0;
        for (int start = 0; start < bytes.length; ) {
            int nl = indexOf(bytes, (byte) '\n', start);
            int end = nl < 0 ? bytes.length : nl;
            lineNo++;
            boolean last = nl < 0 || isBlank(bytes, nl + 1, bytes.length);
            ObjectNode record = parse(bytes, start, end);
            if (record == null && !isBlank(bytes, start, end) || nl < 0 && !isBlank(bytes, start, end)) {
                // a line without its newline was cut short by a kill even if what is there parses
                if (!last) {
                    TextFiles.requireUtf8(file, bytes, start, end); // bytes that are not UTF-8 say so, with their offset
                    throw new IOException("line " + lineNo + " of " + file
                            + " is not a JSON object with a string \"id\"; fix or remove that line to resume");
                }
                if (repair) {
                    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                        ch.truncate(goodEnd);
                        ch.force(true);
                    }
                    notes.println("cut an unfinished last line (" + (bytes.length - goodEnd) + " bytes) off " + file
                            + "; its item will be done again");
                }
                return records;
            }
            if (record != null) {
                String id = record.remove("id").asText();
                if (record.size() == 1 && record.get(NESTED) instanceof ObjectNode nested) record = nested;
                records.putIfAbsent(id, record);
            }
            start = nl < 0 ? bytes.length : nl + 1;
            goodEnd = start;
        }
        return records;
    }

    /** Opens {@code file} (created if missing) for appending; call {@link #read} with repair first. */
    static OutputLog append(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) Files.createDirectories(dir);
        return new OutputLog(FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND));
    }

    /**
     * Appends {@code {"id": id, ...record}} as one line, or {@code {"id": id, "record": record}} when the
     * record has an "id" (or is a lone "record" object, which would read back as the nested form).
     */
    void write(String id, ObjectNode record) throws IOException {
        ObjectNode line = JSON.createObjectNode().put("id", id);
        if (record.has("id") || record.size() == 1 && record.get(NESTED) instanceof ObjectNode) line.set(NESTED, record);
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

    private static ObjectNode parse(byte[] bytes, int start, int end) {
        if (isBlank(bytes, start, end)) return null;
        try {
            JsonNode n = JSON.readTree(bytes, start, end - start);
            return n instanceof ObjectNode o && o.path("id").isTextual() ? o : null;
        } catch (JsonProcessingException e) {
            return null;
        } catch (IOException e) {
            return null;
        }
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
