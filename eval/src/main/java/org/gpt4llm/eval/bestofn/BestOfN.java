package org.gpt4llm.eval.bestofn;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.eval.judge.AnswerSet;
import org.gpt4llm.eval.judge.Judge;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;
import org.gpt4llm.eval.judge.JudgeReport;
import org.gpt4llm.eval.judge.JudgeSummary;

/**
 * The paper's Fig. 4a/b: the reward-ranked groups top-1 … top-K ({@code gpt4llm generate --n K
 * --rerank} writes {@code answers-top<k>.jsonl}, the k-th best answer of every question) each
 * judged against a reference, and their relative scores side by side.
 */
public final class BestOfN {
    private BestOfN() {}

    /** Group k of {@code groups} (0-based) is "top-(k+1)". */
    public static String label(int k) {
        return "top-" + (k + 1);
    }

    /**
     * Judges every group against {@code reference} into {@code dir/reviews-top<k>.jsonl} (resumable)
     * and writes {@code dir/bestofn.json|png|md}; returns each group's run and summary (null where a
     * group has no review yet), in group order.
     */
    public static List<Judge.Result> judge(Mode mode, Path questions, List<Path> groups, AnswerSet reference, String judgeName,
                                           Path dir, Teacher teacher, RunOptions options, PrintWriter err) throws IOException {
        if (groups.isEmpty()) throw new IllegalArgumentException("--groups names no group file");
        List<Judge.Result> out = new ArrayList<>();
        for (int k = 0; k < groups.size(); k++) {
            out.add(Judge.run(mode, questions, group(groups, k), reference, false, judgeName, reviewFile(dir, k), teacher, options, err));
        }
        report(dir, out.stream().map(Judge.Result::summary).toList());
        return out;
    }

    /** {@code --dry-run}: the first requests of each group, on {@code stdout}; sends and writes nothing. */
    public static void dryRun(Mode mode, Path questions, List<Path> groups, AnswerSet reference, String judgeName, Path dir,
                              RunOptions options, PrintWriter stdout, PrintWriter err) throws IOException {
        for (int k = 0; k < groups.size(); k++) {
            Judge.dryRun(mode, questions, group(groups, k), reference, false, judgeName, reviewFile(dir, k), options, stdout, err);
        }
    }

    /** Group k's answers; the groups share a model_id, so the label goes into the name the reviews carry. */
    private static AnswerSet group(List<Path> groups, int k) throws IOException {
        AnswerSet g = AnswerSet.read(groups.get(k));
        return new AnswerSet(g.file(), g.model() + " " + label(k), g.answers());
    }

    private static Path reviewFile(Path dir, int k) {
        return dir.resolve("reviews-" + label(k) + ".jsonl");
    }

    /** Only sums existing review files, one per group in rank order, and writes the report. */
    public static List<JudgeSummary> aggregate(List<Path> reviewFiles, Path dir) throws IOException {
        List<JudgeSummary> out = Judge.summarize(reviewFiles);
        report(dir, out);
        return out;
    }

    private static void report(Path dir, List<JudgeSummary> summaries) throws IOException {
        List<JudgeReport.Entry> entries = new ArrayList<>();
        for (int k = 0; k < summaries.size(); k++) if (summaries.get(k) != null) entries.add(new JudgeReport.Entry(label(k), summaries.get(k)));
        String ref = entries.isEmpty() ? "the reference" : entries.getFirst().summary().reference();
        JudgeReport.write(dir, "bestofn", "Reward-ranked groups top-1 … top-" + summaries.size() + " vs " + ref, entries);
    }
}
