package org.gpt4llm.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The worst figure each test class measured against its bound (a relative error and its tolerance),
 * for a report over a whole run such as bin/gpu-check's table. Tests {@link #record} what they
 * measure; after each test class (this extension is registered for every module's tests) the worst
 * value of each check on each target is appended, one JSON line each, to the file that
 * {@code -Dgpt4llm.measurements} names. Without that property nothing is kept.
 */
public final class Measurements implements AfterAllCallback {
    public static final String PROPERTY = "gpt4llm.measurements";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One line of the file: the largest {@code value} (relative to {@code limit} where the check has one
     * bound, else absolute) of a check of {@code testClass} on {@code target}; {@code limit} is null
     * where there is no single bound.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Line(String testClass, String check, String target, double value, Double limit) {
        /** How close the value came to its bound (above 1: past it); the value itself without a bound. A NaN is worst. */
        double severity() {
            return limit != null && limit > 0 ? value / limit : value;
        }
    }

    /** The worst line so far per target and check, of the test class that is running. */
    private static final Map<String, Line> PENDING = new LinkedHashMap<>();

    /** Records {@code value} of {@code check} on {@code target}, which the test holds below {@code limit} (NaN: no one bound). */
    public static void record(String target, String check, double value, double limit) {
        if (file() == null) return;
        Line line = new Line(null, check, target, value, Double.isNaN(limit) ? null : limit);
        synchronized (PENDING) {
            PENDING.merge(target + "\u0000" + check, line,
                    (old, now) -> Double.compare(now.severity(), old.severity()) > 0 ? now : old);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        Path file = file();
        List<Line> lines = new ArrayList<>();
        synchronized (PENDING) {
            for (Line l : PENDING.values()) {
                lines.add(new Line(context.getRequiredTestClass().getName(), l.check(), l.target(), l.value(), l.limit()));
            }
            PENDING.clear();
        }
        if (file != null && !lines.isEmpty()) append(file, lines);
    }

    /**
     * Appends {@code lines} to {@code file} (created with its folders where missing) in one write, so
     * that a reader never sees half a class's lines.
     */
    public static void append(Path file, List<Line> lines) {
        StringBuilder b = new StringBuilder();
        try {
            for (Line l : lines) b.append(JSON.writeValueAsString(l)).append('\n');
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a measurement does not serialise: " + e.getMessage(), e);
        }
        try {
            Path abs = file.toAbsolutePath();
            if (abs.getParent() != null) Files.createDirectories(abs.getParent());
            Files.writeString(abs, b, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append measurements to " + file + ": " + e.getMessage(), e);
        }
    }

    private static Path file() {
        String f = System.getProperty(PROPERTY);
        return f == null || f.isBlank() ? null : Path.of(f);
    }
}
