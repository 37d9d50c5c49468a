package org.gpt4llm.datagen.run;

import java.io.PrintWriter;

/**
 * Progress of a run on stderr: done/total, failures, rate and ETA, at most every half second on a
 * terminal (redrawn in place) and every 10 seconds otherwise (one line each).
 */
final class Progress {
    private final String name;
    private final int total;
    private final PrintWriter err;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long lastPrint = start;
    private int done;
    private int failed;

    Progress(String name, int total, PrintWriter err, boolean terminal) {
        this.name = name;
        this.total = total;
        this.err = err;
        this.terminal = terminal;
    }

    synchronized void finished(boolean ok) {
        if (ok) done++;
        else failed++;
        long now = System.nanoTime();
        if (now - lastPrint >= (terminal ? 500_000_000L : 10_000_000_000L)) {
            lastPrint = now;
            print(now, false);
        }
    }

    synchronized void end() {
        if (terminal) print(System.nanoTime(), true);
    }

    private void print(long now, boolean last) {
        double s = (now - start) / 1e9;
        int finished = done + failed;
        double rate = finished / Math.max(s, 1e-9);
        String eta = finished == 0 ? "?" : duration((total - finished) / rate);
        String line = String.format("%s: %d/%d (%.1f%%), %d failed, %.2f items/s, ETA %s", name, finished, total,
                100.0 * finished / Math.max(total, 1), failed, rate, eta);
        if (terminal) err.print("\r" + line + (last ? "\n" : ""));
        else err.println(line);
        err.flush();
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) return (s / 3600) + "h" + String.format("%02dm", s % 3600 / 60);
        if (s >= 60) return (s / 60) + "m" + String.format("%02ds", s % 60);
        return s + "s";
    }
}
