package org.gpt4llm.eval.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
        Path tmp = temp(file);
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** A chart as a PNG (headless). */
    public static void writePng(Path file, Chart<?, ?> chart) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Path tmp = temp(file);
        try {
            BitmapEncoder.saveBitmap(chart, tmp.toString(), BitmapEncoder.BitmapFormat.PNG);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static Path temp(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // the PNG encoder names its file itself: keep the extension last
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String ext = dot < 0 ? "" : name.substring(dot);
        return dir.resolve("." + (dot < 0 ? name : name.substring(0, dot)) + ".tmp" + ext);
    }
}
