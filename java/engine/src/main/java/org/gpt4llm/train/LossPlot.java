package org.gpt4llm.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.files.AtomicWrite;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The curves of a run as PNGs, from metrics.jsonl's entries: {@code loss.png} (training and held-out
 * loss against the step) and, when the model logs it (a reward model), {@code accuracy.png} (held-out
 * pairwise accuracy).
 */
final class LossPlot {
    /** The tag of the temp files plots are written into. */
    static final String WRITER = "plot";

    /** File name of the accuracy plot, next to the loss plot. */
    static final String ACCURACY = "accuracy.png";

    private LossPlot() {}

    /** Writes {@code file} (and the accuracy plot beside it when there is one), each atomically. */
    static void write(Path file, List<JsonNode> metrics, String title) throws IOException {
        if (metrics.isEmpty()) return;
        System.setProperty("java.awt.headless", "true");
        XYChart loss = chart(title, "loss");
        addSeries(loss, "train", metrics, "loss", false);
        addSeries(loss, "eval", metrics, "eval_loss", true);
        save(loss, file);
        XYChart accuracy = chart(title, "held-out pairwise accuracy");
        if (addSeries(accuracy, "eval", metrics, "eval_accuracy", true)) {
            save(accuracy, file.toAbsolutePath().getParent().resolve(ACCURACY));
        }
    }

    private static XYChart chart(String title, String yTitle) {
        return new XYChartBuilder().width(800).height(500).title(title).xAxisTitle("step").yAxisTitle(yTitle).build();
    }

    /** The series of {@code key} against the step over the lines that have it; false when none has. */
    private static boolean addSeries(XYChart chart, String name, List<JsonNode> metrics, String key, boolean markers) {
        List<Double> steps = new ArrayList<>(), values = new ArrayList<>();
        for (JsonNode m : metrics) {
            if (!m.has(key)) continue; // a step-0 line holds held-out metrics only
            steps.add(m.path("step").asDouble());
            values.add(m.path(key).asDouble());
        }
        if (steps.isEmpty()) return false;
        chart.addSeries(name, steps, values).setMarker(markers ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        return true;
    }

    private static void save(XYChart chart, Path file) throws IOException {
        AtomicWrite.write(file, WRITER, ".png", tmp -> BitmapEncoder.saveBitmap(chart, tmp.toString(), BitmapEncoder.BitmapFormat.PNG));
    }
}
