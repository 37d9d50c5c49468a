package org.gpt4llm.eval.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.testing.EndedProcess;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.FileTrees;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;

/** A report's files are written whole, under the umask, and the temps a killed report left beside them are removed. */
class ReportFilesTest {
    @Test
    void theNextReportRemovesTheTempsOfAKilledOne(@TempDir Path dir) throws Exception {
        long gone = EndedProcess.pid();
        Files.writeString(dir.resolve(".scores.png.report-" + gone + "-00000000000000b1.tmp.png"), "half a png");
        Files.writeString(dir.resolve(".scores.json.report-" + gone + "-00000000000000b2.tmp"), "{");
        Files.writeString(dir.resolve(".notes.tmp"), "the user's");

        XYChart chart = new XYChartBuilder().width(200).height(100).build();
        chart.addSeries("s", new double[] {1, 2, 3}, new double[] {3, 1, 2});
        ReportFiles.writePng(dir.resolve("scores.png"), chart);
        ReportFiles.writeText(dir.resolve("scores.json"), "{}\n");

        assertEquals(List.of(".notes.tmp", "scores.json", "scores.png"), FileTrees.names(dir));
        assertEquals("PNG", new String(Files.readAllBytes(dir.resolve("scores.png")), 1, 3, StandardCharsets.US_ASCII));
        assertEquals("{}\n", Files.readString(dir.resolve("scores.json")));
        FilePermissions.assertUmaskDefault(dir.resolve("scores.png"));
        FilePermissions.assertUmaskDefault(dir.resolve("scores.json"));
    }
}
