package org.gpt4llm.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The loss curve (training loss and held-out loss against the step) as a PNG, from metrics.jsonl's entries. */
final class LossPlot {
    private LossPlot() {}

    /** Writes {@code file} atomically (temp file in the same folder, then rename). */
    static void write(Path file, List<JsonNode> metrics, String title) throws IOException {
        if (metrics.isEmpty()) return;
        System.setProperty("java.awt.headless", "true");
        List<Double> steps = new ArrayList<>(), loss = new ArrayList<>(), evalSteps = new ArrayList<>(), eval = new ArrayList<>();
        for (JsonNode m : metrics) {
            steps.add(m.path("step").asDouble());
            loss.add(m.path("loss").asDouble());
            if (m.has("eval_loss")) {
                evalSteps.add(m.path("step").asDouble());
                eval.add(m.path("eval_loss").asDouble());
            }
        }
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle("step").yAxisTitle("loss").build();
        if (!steps.isEmpty()) chart.addSeries("train", steps, loss).setMarker(SeriesMarkers.NONE);
        if (!evalSteps.isEmpty()) {
            XYSeries s = chart.addSeries("eval", evalSteps, eval);
            s.setMarker(SeriesMarkers.CIRCLE);
        }
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + file.getFileName() + ".tmp.png");
        try {
            BitmapEncoder.saveBitmap(chart, tmp.toString(), BitmapEncoder.BitmapFormat.PNG);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
