package org.gpt4llm.eval.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.gpt4llm.datagen.files.FileErrors;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * How every evaluation writes its outputs: a JSON report, PNG plots next to it (XChart) and a
 * Markdown summary, each written to a temp file in the same folder and renamed into place, so a
 * report on disk is always whole.
 */
public final class ReportFiles {
    public static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ReportFiles() {}

    public static void writeJson(Path file, JsonNode json) throws IOException {
        writeText(file, JSON.writeValueAsString(json) + "\n");
    }

    public static void writeText(Path file, String text) throws IOException {
        write(file, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    }

    /** A chart as a PNG (headless). */
    public static void writePng(Path file, Chart<?, ?> chart) throws IOException {
        System.setProperty("java.awt.headless", "true");
        write(file, tmp -> BitmapEncoder.saveBitmap(chart, tmp.toString(), BitmapEncoder.BitmapFormat.PNG));
    }

    /** What writes a whole file at the temp path it is given. */
    private interface Writer {
        void write(Path tmp) throws IOException;
    }

    /** {@code file} written whole by {@code writer} into a temp file beside it, then renamed into place. */
    private static void write(Path file, Writer writer) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        // the PNG encoder names its file itself: keep the extension last
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String ext = dot < 0 ? "" : name.substring(dot);
        Path tmp = dir.resolve("." + (dot < 0 ? name : name.substring(0, dot)) + ".tmp" + ext);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw FileErrors.about("create the folder", dir, e);
        }
        try {
            writer.write(tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw FileErrors.about("write", file, e); // the file the user asked for, not the temp file
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
