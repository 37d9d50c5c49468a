package org.gpt4llm.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.gpt4llm.eval.exact.ExactEval;
import org.gpt4llm.eval.exact.ExactEval.Result;
import org.gpt4llm.eval.exact.ExactInputs;
import org.gpt4llm.eval.report.ReportFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm eval exact}: exact-match accuracy of one or more models' predictions against
 * references, overall and per reference {@code category}. Writes {@code exact.json}, {@code exact.png}
 * (accuracy per category, one bar per model) and {@code exact.md}.
 */
@Command(name = "exact", mixinStandardHelpOptions = true,
        description = "Exact-match accuracy (surrounding whitespace trimmed, case-sensitive) overall and per category, with its bar chart.")
public final class EvalExactCommand implements Callable<Integer> {
    @Option(names = "--predictions", required = true,
            description = "FastChat answer file or Alpaca-format outputs; repeat for several models")
    List<Path> predictions = new ArrayList<>();

    @Option(names = "--references", required = true,
            description = "references with an optional \"category\": {reference(s)}, Alpaca {output} or FastChat {text},"
                    + " matched by question_id, by index (gpt4llm generate's answers to an Alpaca file) or by position")
    Path references;

    @Option(names = "--model", description = "model name, one per --predictions file in order (default: the file name)")
    List<String> models = new ArrayList<>();

    @Mixin
    OutFlag report = new OutFlag();

    @Override
    public Integer call() throws IOException {
        Path out = report.folder();
        if (!models.isEmpty() && models.size() != predictions.size()) {
            throw new IllegalArgumentException("--model given " + models.size() + " times for " + predictions.size() + " --predictions files");
        }
        List<Result> results = new ArrayList<>();
        for (int i = 0; i < predictions.size(); i++) {
            Path file = predictions.get(i);
            String model = models.isEmpty() ? baseName(file) : models.get(i);
            if (results.stream().anyMatch(r -> r.model().equals(model))) {
                throw new IllegalArgumentException("two --predictions files are both named " + model + "; name them with --model");
            }
            results.add(ExactEval.score(model, file.toString(), ExactInputs.aligned(file, references)));
        }
        ReportFiles.writeJson(out.resolve("exact.json"), ExactEval.toJson(references.toString(), results));
        ReportFiles.writePng(out.resolve("exact.png"), ExactEval.chart(results));
        String md = ExactEval.markdown(references.toString(), results);
        ReportFiles.writeText(out.resolve("exact.md"), md);
        System.out.print(md);
        System.out.println("\nwrote " + out.resolve("exact.json") + ", exact.png, exact.md");
        return 0;
    }

    private static String baseName(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }
}
