package org.gpt4llm.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.io.AtomicFiles;

/**
 * {@code metrics.jsonl}: one JSON object per logged step, appended and flushed as it happens so that
 * a killed run keeps every line it logged. On resume the file is cut back (atomically) to the lines
 * that existed when the checkpoint was written, since the steps after it are trained again.
 */
final class MetricsLog implements AutoCloseable {
    private final Path file;
    private final List<JsonNode> entries = new ArrayList<>();
    private final BufferedWriter out;

    /** Opens {@code file} keeping its first {@code keepLines} lines (0: starts it empty). */
    MetricsLog(Path file, int keepLines) throws IOException {
        this.file = file;
        List<String> lines = Files.exists(file) ? TextFiles.lines(file) : List.of();
        if (lines.size() < keepLines) {
            throw new IOException(file + " has " + lines.size() + " lines but the checkpoint was written after line "
                    + keepLines + ": the run folder was changed by hand");
        }
        List<String> kept = lines.subList(0, keepLines);
        if (lines.size() != keepLines || !Files.exists(file)) {
            AtomicFiles.write(file, kept.isEmpty() ? new byte[0]
                    : (String.join("\n", kept) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        for (int i = 0; i < kept.size(); i++) {
            try {
                entries.add(TrainConfig.JSON.readTree(kept.get(i)));
            } catch (IOException e) {
                throw new IOException(file + " line " + (i + 1) + " is not valid JSON", e);
            }
        }
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    void append(ObjectNode line) throws IOException {
        out.write(TrainConfig.JSON.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT).writeValueAsString(line));
        out.write('\n');
        out.flush();
        entries.add(line);
    }

    int lines() {
        return entries.size();
    }

    /** Every line logged so far, as parsed objects. */
    List<JsonNode> entries() {
        return entries;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
