package org.gpt4llm.train;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * What a run shows while it trains: a progress bar (loss, lr, tokens/s, ETA) on a terminal, or,
 * when the output is not a terminal, a plain line every few steps and on every evaluation; nothing
 * when quiet.
 */
final class Progress implements AutoCloseable {
    private final ProgressBar bar;
    private final PrintStream lines;
    private final int total, every;

    private Progress(ProgressBar bar, PrintStream lines, int total) {
        this.bar = bar;
        this.lines = lines;
        this.total = total;
        this.every = Math.max(1, total / 50);
    }

    static Progress open(int start, int total, boolean quiet, PrintStream out) {
        if (quiet) return new Progress(null, null, total);
        var console = System.console();
        if (console == null || !console.isTerminal()) return new Progress(null, out, total);
        ProgressBar bar = new ProgressBarBuilder().setTaskName("sft").setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).startsFrom(start, Duration.ZERO).setMaxRenderedLength(140).build();
        return new Progress(bar, null, total);
    }

    void step(int step, double loss, double lr, double tokensPerS, Double evalLoss) {
        String msg = String.format(Locale.ROOT, " loss %.4f lr %.3g %.0f tok/s%s", loss, lr, tokensPerS,
                evalLoss == null ? "" : String.format(Locale.ROOT, " eval %.4f", evalLoss));
        if (bar != null) {
            bar.stepTo(step);
            bar.setExtraMessage(msg);
        } else if (lines != null && (step % every == 0 || step == total || evalLoss != null)) {
            lines.printf(Locale.ROOT, "step %d/%d%s%n", step, total, msg);
        }
    }

    void message(String text) {
        if (lines != null) lines.println(text);
        else if (bar != null) System.err.println(text);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
