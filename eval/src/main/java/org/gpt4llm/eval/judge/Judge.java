package org.gpt4llm.eval.judge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.run.JobRunner;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.run.RunSummary;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;

/** Judges one model's answers against the reference's into a review file (resumable) and sums the reviews. */
public final class Judge {
    private Judge() {}

    /** @param summary null when no review is done yet */
    public record Result(RunSummary run, JudgeSummary summary, int expectedReviews) {}

    public static Result run(Mode mode, Path questions, AnswerSet model, AnswerSet reference, boolean translate, String judgeName,
                             Path reviews, Teacher teacher, RunOptions options, PrintWriter err) throws IOException {
        JudgeJob job = job(mode, model, reference, translate, judgeName);
        List<Item> items = job.read(questions);
        if (options.dryRun()) throw new IllegalArgumentException("a dry run is dryRun(), not run()");
        if (!job.unanswered().isEmpty()) {
            err.println(job.unanswered().size() + " questions of " + questions + " are not answered by both " + model.file() + " and "
                    + reference.file() + "; they are left out");
        }
        JobRunner runner = new JobRunner(job, judgeName, items, reviews, err);
        // the translations of this input's reviews only: a changed question or answer is translated again
        if (translate) job.reuseTranslations(runner.records());
        RunSummary run = runner.run(teacher, options, false);
        // the reviews of this input: lines of changed questions or answers stay in the file but are not summed
        List<ObjectNode> current = runner.records();
        return new Result(run, current.isEmpty() ? null : JudgeSummary.of(List.copyOf(current)), items.size());
    }

    /** {@code --dry-run}: the first requests of the first reviews still to do, on {@code stdout}; sends and writes nothing. */
    public static void dryRun(Mode mode, Path questions, AnswerSet model, AnswerSet reference, boolean translate, String judgeName,
                              Path reviews, RunOptions options, PrintWriter stdout, PrintWriter err) throws IOException {
        JudgeJob job = job(mode, model, reference, translate, judgeName);
        new JobRunner(job, judgeName, job.read(questions), reviews, err).dryRun(options, stdout);
    }

    private static JudgeJob job(Mode mode, AnswerSet model, AnswerSet reference, boolean translate, String judgeName) {
        if (model.model().equals(reference.model())) {
            throw new IllegalArgumentException(model.file() + " and " + reference.file() + " are both answers of " + model.model());
        }
        return new JudgeJob(mode, model, reference, translate, judgeName);
    }

    /** The last review of each key, where the first of that key was; reviews without a key (FastChat's own) all. */
    private static List<JsonNode> newestPerKey(List<JsonNode> reviews) {
        Map<String, Integer> at = new HashMap<>();
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode r : reviews) {
            Integer i = r.path("key").isTextual() ? at.putIfAbsent(r.get("key").asText(), out.size()) : null;
            if (i == null) out.add(r);
            else out.set(i, r);
        }
        return out;
    }

    /** {@code reviews-<model>.jsonl}, with the model name made safe for a file name. */
    public static Path reviewFile(Path dir, String model) {
        return dir.resolve("reviews-" + model.replaceAll("[^A-Za-z0-9._-]", "_") + ".jsonl");
    }

    /**
     * The summaries of existing review files, one per file. A file resumed over a changed input holds
     * older reviews of the same question and order (the same {@code "key"}): the newest counts.
     */
    public static List<JudgeSummary> summarize(List<Path> reviewFiles) throws IOException {
        List<JudgeSummary> out = new ArrayList<>();
        for (Path f : reviewFiles) {
            List<JsonNode> r = newestPerKey(JudgeSummary.readReviews(f));
            try {
                out.add(JudgeSummary.of(r));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(f + ": " + e.getMessage(), e);
            }
        }
        return out;
    }
}
