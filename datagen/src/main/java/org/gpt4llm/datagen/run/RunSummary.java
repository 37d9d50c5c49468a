package org.gpt4llm.datagen.run;

import java.util.List;

/**
 * What one run did. Counts are of input items (positions); a request asked at several positions
 * counts at each.
 *
 * @param total       items in the input
 * @param alreadyDone items the output already answered when the run began (same key, same settings)
 * @param fresh       items it did not: new, changed, or not done yet ({@code total - alreadyDone})
 * @param stale       output lines that answer no item of this input (kept in the file, never exported)
 * @param done        items finished and written this run
 * @param failed      requests that failed this run, with the reason
 * @param left        items not tried (over {@code --limit})
 * @param usage       the teacher's own account of the cost, or null
 */
public record RunSummary(int total, int alreadyDone, int fresh, int stale, int done, List<Failure> failed, int left, long calls,
        long promptTokens, long completionTokens, double seconds, String usage) {

    /** The closing lines for the user. */
    public String describe(String jobName) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%s: %d done this run, %d already done, %d failed, %d left of %d items (%.1f s)%n",
                jobName, done, alreadyDone, failed.size(), left, total, seconds));
        sb.append(String.format("input: %d items already done, %d new; %d output lines match no item of it%s%n", alreadyDone, fresh,
                stale, stale > 0 ? " (kept in the file, not exported)" : ""));
        sb.append(String.format("teacher: %d requests, %d prompt + %d completion tokens%n", calls, promptTokens, completionTokens));
        if (usage != null && !usage.isBlank()) sb.append(usage.strip()).append(System.lineSeparator());
        for (Failure f : failed) {
            sb.append("failed ").append(f.id()).append(" (").append(f.attempts()).append(f.attempts() == 1 ? " run" : " runs")
                    .append("): ").append(f.reason()).append(System.lineSeparator());
        }
        return sb.toString();
    }

    public boolean complete() {
        return failed.isEmpty() && left == 0;
    }
}
