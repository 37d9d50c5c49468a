package org.gpt4llm.eval.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Files;
import org.gpt4llm.datagen.files.AtomicWrite;
import org.gpt4llm.datagen.files.FileErrors;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * How every evaluation writes its outputs: a JSON report, PNG plots next to it (XChart) and a
 * Markdown summary, each written to a temp file in the same folder
 * ({@code .NAME.report-PID-RANDOM.tmp[.png]}) and renamed into place, so a report on disk is always
 * whole; a temp file a killed run left beside it is removed by the next write.
 */
public final class ReportFiles {
    public static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The tag of the temp files of reports. */
    private static final String WRITER = "report";

    private ReportFiles() {}

    public static void writeJson(Path file, JsonNode json) throws IOException {
        writeText(file, JSON.writeValueAsString(json) + "\n");
    }

    public static void writeText(Path file, String text) throws IOException {
        createReportFolder(file);
        AtomicWrite.write(file, WRITER, text.getBytes(StandardCharsets.UTF_8));
    }

    /** A chart as a PNG (headless). */
    public static void writePng(Path file, Chart<?, ?> chart) throws IOException {
        System.setProperty("java.awt.headless", "true");
        createReportFolder(file);
        AtomicWrite.write(file, WRITER, ".png",
                tmp -> BitmapEncoder.saveBitmap(chart, tmp.toString(), BitmapEncoder.BitmapFormat.PNG));
    }

    /** The report folder (an evaluation's --out), created if missing; a failure names that folder. */
    private static void createReportFolder(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw FileErrors.about("create the folder", dir, e);
        }
    }
}
