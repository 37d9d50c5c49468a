package org.gpt4llm.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.datagen.run.RunSummary;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.eval.bestofn.BestOfN;
import org.gpt4llm.eval.judge.AnswerSet;
import org.gpt4llm.eval.judge.Judge;
import org.gpt4llm.eval.judge.JudgeSummary;
import org.gpt4llm.io.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code gpt4llm eval bestofn}: the reward-ranked groups top-1 … top-K that {@code gpt4llm generate
 * --n K --rerank RM} writes, each judged against a reference (the paper's Fig. 4a/b), or their
 * existing review files summed; {@code bestofn.json|png|md} in {@code --out}.
 */
@Command(name = "bestofn", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Relative scores of the reward-ranked groups top-1 ... top-K against a reference (GPT-4 as judge).")
public final class EvalBestofnCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--groups", split = ",", description = "answers-top1.jsonl,...,answers-topK.jsonl in rank order")
    List<Path> groups = new ArrayList<>();

    @Option(names = "--reference", description = "FastChat answer file of the reference model")
    Path reference;

    @Option(names = "--questions", description = "Vicuna question JSONL {question_id, text, category}")
    Path questions;

    @Option(names = "--reviews", split = ",", description = "existing review files of top-1 ... top-K to sum instead of judging")
    List<Path> reviews = new ArrayList<>();

    @Mixin
    OutFlag reviewsAndReport = new OutFlag();

    @Mixin
    JudgeFlags flags = new JudgeFlags();

    @Override
    public Integer call() throws Exception {
        Path out = reviewsAndReport.folder();
        List<JudgeSummary> sums;
        boolean complete = true;
        PrintWriter stdout = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        if (!reviews.isEmpty()) {
            if (!groups.isEmpty() || reference != null) throw new IllegalArgumentException("--reviews sums existing reviews; leave out --groups and --reference");
            sums = BestOfN.aggregate(reviews, out);
        } else {
            if (groups.isEmpty() || reference == null || questions == null) {
                throw new IllegalArgumentException("eval bestofn needs --groups, --reference and --questions (or --reviews to sum existing reviews)");
            }
            var mode = flags.mode();
            var options = flags.runOptions();
            AnswerSet ref = AnswerSet.read(reference);
            if (options.dryRun()) {
                BestOfN.dryRun(mode, questions, groups, ref, flags.api.model, out, options, stdout, spec.commandLine().getErr());
                return 0;
            }
            try (OpenAiTeacher teacher = flags.teacher()) {
                List<Judge.Result> runs = BestOfN.judge(mode, questions, groups, ref, flags.api.model, out, teacher, options, spec.commandLine().getErr());
                for (int k = 0; k < runs.size(); k++) {
                    RunSummary run = runs.get(k).run();
                    stdout.print(run.describe("judge " + BestOfN.label(k)));
                    complete &= run.complete();
                }
                sums = runs.stream().map(Judge.Result::summary).toList();
                AtomicFiles.appendLine(DatagenCommand.usageFile(out.resolve("bestofn")), teacher.usage().snapshot().toJson().toString());
            }
        }
        for (int k = 0; k < sums.size(); k++) {
            JudgeSummary s = sums.get(k);
            if (s == null) stdout.println(BestOfN.label(k) + ": no reviews yet");
            else stdout.printf(Locale.ROOT, "%s vs %s: relative score %s (%s : %s), %d unparseable of %d reviews%n", BestOfN.label(k), s.reference(),
                    Double.isNaN(s.overall().relativeScore()) ? "-" : String.format(Locale.ROOT, "%.1f%%", s.overall().relativeScore()),
                    s.overall().modelTotal(), s.overall().referenceTotal(), s.overall().unparseable(), s.overall().reviews());
        }
        stdout.println("report: " + out.resolve("bestofn.json") + ", bestofn.png, bestofn.md");
        return complete ? 0 : 1;
    }
}
