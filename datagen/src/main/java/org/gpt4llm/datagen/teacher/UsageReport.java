package org.gpt4llm.datagen.teacher;

/** A teacher that can say what a run cost (tokens, money), for the runner's final summary. */
public interface UsageReport {
    /** One or a few lines, e.g. "1200 requests, 340000 prompt + 250000 completion tokens, $12.30". */
    String usageSummary();
}
