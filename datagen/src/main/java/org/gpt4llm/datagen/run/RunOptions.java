package org.gpt4llm.datagen.run;

/**
 * How a {@link JobRunner} runs.
 *
 * @param concurrency  items in flight at once (each on its own virtual thread)
 * @param limit        most items to run this time (the first ones not done yet); negative: all
 * @param dryRun       print the first requests of the first items and send nothing, write nothing
 * @param previewItems items a dry run prints
 * @param quiet        no progress lines
 */
public record RunOptions(int concurrency, int limit, boolean dryRun, int previewItems, boolean quiet) {
    public RunOptions {
        if (concurrency < 1) throw new IllegalArgumentException("--concurrency must be at least 1, got " + concurrency);
        if (previewItems < 1) throw new IllegalArgumentException("a dry run previews at least one item, got " + previewItems);
    }

    public static RunOptions defaults() {
        return new RunOptions(8, -1, false, 3, true);
    }

    public RunOptions withConcurrency(int n) {
        return new RunOptions(n, limit, dryRun, previewItems, quiet);
    }

    public RunOptions withLimit(int n) {
        return new RunOptions(concurrency, n, dryRun, previewItems, quiet);
    }

    public RunOptions withDryRun(boolean b) {
        return new RunOptions(concurrency, limit, b, previewItems, quiet);
    }
}
