package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.gpt4llm.testing.fixture.MeasuringCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * A test class's measurements reach the file {@code -Dgpt4llm.measurements} names when the class ends
 * (the extension registered by auto-detection, as the build runs tests): the worst value of each check
 * and target, by how close it came to its bound; nothing without the property.
 */
class MeasurementsTest {
    private static long run(String file) {
        String before = System.getProperty(Measurements.PROPERTY);
        try {
            if (file == null) System.clearProperty(Measurements.PROPERTY);
            else System.setProperty(Measurements.PROPERTY, file);
            SummaryGeneratingListener summary = new SummaryGeneratingListener();
            LauncherFactory.create().execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(MeasuringCheck.class))
                    .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "true").build(), summary);
            return summary.getSummary().getTestsSucceededCount();
        } finally {
            if (before == null) System.clearProperty(Measurements.PROPERTY);
            else System.setProperty(Measurements.PROPERTY, before);
        }
    }

    @Test
    void eachClassAppendsTheWorstOfEachCheckAndTarget(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("m").resolve("measurements.jsonl");
        assertEquals(2, run(file.toString()));
        ObjectMapper json = new ObjectMapper();
        List<Measurements.Line> lines = new ArrayList<>();
        for (String l : Files.readAllLines(file)) lines.add(json.readValue(l, Measurements.Line.class));
        lines.sort(Comparator.comparing(Measurements.Line::target).thenComparing(Measurements.Line::check));
        String cls = MeasuringCheck.class.getName();
        assertEquals(List.of(new Measurements.Line(cls, "x error", "cpu", 1e-6, 1e-5),
                new Measurements.Line(cls, "x error", "cuda", 4e-3, 5e-3),
                new Measurements.Line(cls, "y error", "cuda", 2e-3, null)), lines);
        assertEquals(2, run(file.toString()));
        assertEquals(6, Files.readAllLines(file).size(), "a second run appends");
    }

    @Test
    void withoutThePropertyNothingIsWrittenOrKept(@TempDir Path dir) throws Exception {
        assertEquals(2, run(null));
        Path file = dir.resolve("measurements.jsonl");
        assertEquals(2, run(file.toString()));
        assertEquals(3, Files.readAllLines(file).size(), "nothing of the run without the property was kept");
        try (var s = Files.list(dir)) {
            assertFalse(s.anyMatch(p -> !p.equals(file)), "only the named file is written");
        }
    }
}
