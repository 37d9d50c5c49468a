package org.gpt4llm.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.datagen.run.JobRunner;
import org.gpt4llm.datagen.run.RunSummary;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.eval.judge.AnswerSet;
import org.gpt4llm.eval.judge.Judge;
import org.gpt4llm.eval.judge.JudgeReport;
import org.gpt4llm.eval.judge.JudgeSummary;
import org.gpt4llm.io.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code gpt4llm eval judge}: GPT-4 as judge of models' answers against a reference's (the paper's
 * Fig. 4/5): every question in both orders, reviews saved as FastChat review JSONL in {@code
 * --out/reviews-<model>.jsonl} (a rerun skips the reviews done), and {@code judge.json|png|md}.
 */
@Command(name = "judge", mixinStandardHelpOptions = true, sortOptions = false,
        description = "GPT-4 as judge: relative scores of models against a reference on the Vicuna questions (both orders, resumable).")
public final class EvalJudgeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--questions", description = "Vicuna question JSONL {question_id, text, category}")
    Path questions;

    @Option(names = "--answers", split = ",", description = "FastChat answer files of the models judged, comma-separated")
    List<Path> answers = new ArrayList<>();

    @Option(names = "--reference", description = "FastChat answer file of the reference model (ChatGPT, GPT-4)")
    Path reference;

    @Option(names = "--reviews", split = ",", description = "existing review files to sum instead of judging (no questions, answers or API)")
    List<Path> reviews = new ArrayList<>();

    @Option(names = "--translate", description = "translate questions and answers into Chinese with the judge first (the paper's Fig. 5); answers"
            + " generated in Chinese need no flag: give their question file in Chinese")
    boolean translate;

    @Mixin
    OutFlag reviewsAndReport = new OutFlag();

    @Mixin
    JudgeFlags flags = new JudgeFlags();

    @Override
    public Integer call() throws Exception {
        Path out = reviewsAndReport.folder();
        PrintWriter stdout = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        List<JudgeReport.Entry> entries = new ArrayList<>();
        if (!reviews.isEmpty()) {
            if (!answers.isEmpty() || reference != null) throw new IllegalArgumentException("--reviews sums existing reviews; leave out --answers and --reference");
            for (JudgeSummary s : Judge.summarize(reviews)) entries.add(new JudgeReport.Entry(s.model(), s));
            return report(out, entries, stdout, true);
        }
        if (questions == null || reference == null || answers.isEmpty()) {
            throw new IllegalArgumentException("eval judge needs --questions, --answers and --reference (or --reviews to sum existing reviews)");
        }
        var mode = flags.mode();
        var options = flags.runOptions();
        AnswerSet ref = AnswerSet.read(reference);
        if (options.dryRun()) {
            for (Path a : answers) {
                AnswerSet model = AnswerSet.read(a);
                Judge.dryRun(mode, questions, model, ref, translate, flags.api.model, Judge.reviewFile(out, model.model()), options, stdout,
                        spec.commandLine().getErr());
            }
            return 0;
        }
        boolean complete = true;
        try (OpenAiTeacher teacher = flags.teacher()) {
            for (Path a : answers) {
                AnswerSet model = AnswerSet.read(a);
                Path file = Judge.reviewFile(out, model.model());
                Judge.Result r = Judge.run(mode, questions, model, ref, translate, flags.api.model, file, teacher, options, spec.commandLine().getErr());
                RunSummary run = r.run();
                stdout.print(run.describe("judge " + model.model()));
                if (!run.failed().isEmpty()) stdout.println("failures are listed in " + JobRunner.failuresFile(file) + "; run the same command again to retry them");
                complete &= run.complete();
                if (r.summary() != null) entries.add(new JudgeReport.Entry(model.model(), r.summary()));
            }
            AtomicFiles.appendLine(DatagenCommand.usageFile(out.resolve("judge")), teacher.usage().snapshot().toJson().toString());
        }
        return report(out, entries, stdout, complete);
    }

    private int report(Path out, List<JudgeReport.Entry> entries, PrintWriter stdout, boolean complete) throws Exception {
        if (entries.isEmpty()) {
            stdout.println("no reviews yet; nothing to report");
            return complete ? 0 : 1;
        }
        String ref = entries.getFirst().summary().reference();
        JudgeReport.write(out, "judge", "Relative score vs " + ref + " (GPT-4 as judge" + (translate ? ", Chinese" : "") + ")", entries);
        for (JudgeReport.Entry e : entries) {
            JudgeSummary.Stats s = e.summary().overall();
            stdout.printf(Locale.ROOT, "%s vs %s: relative score %s, %s : %s, win/tie/loss %d/%d/%d, %d unparseable of %d reviews, %d order disagreements%n",
                    e.label(), ref, Double.isNaN(s.relativeScore()) ? "-" : String.format(Locale.ROOT, "%.1f%%", s.relativeScore()),
                    s.modelTotal(), s.referenceTotal(), s.wins(), s.ties(), s.losses(), s.unparseable(), s.reviews(), s.disagreements());
        }
        stdout.println("report: " + out.resolve("judge.json") + ", judge.png, judge.md");
        return complete ? 0 : 1;
    }
}
