package org.gpt4llm.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.CompareJob;
import org.gpt4llm.datagen.job.InstructionsJob;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.job.TranslateJob;
import org.gpt4llm.datagen.job.UnnaturalJob;
import org.gpt4llm.datagen.run.JobRunner;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.run.RunSummary;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.io.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/**
 * {@code gpt4llm datagen JOB}: collect one of the paper's data sets from a GPT-4-class teacher behind
 * an OpenAI-compatible API, resumably (see {@link JobRunner}). Every job is one entry of {@link #JOBS}
 * run by the same {@link JobCommand}.
 */
@Command(name = "datagen", mixinStandardHelpOptions = true,
        description = "Collect instruction-following data from a GPT-4-class teacher (resumable; one JSONL line per finished item).")
public final class DatagenCommand implements Runnable {
    /**
     * A collection job the command line offers: its name, what it does, whether it reads several
     * {@code --in} files (the job gets them all from {@code make} and reads items from the first),
     * and how its flags make it.
     */
    record JobKind(String name, String description, boolean manyInputs, Function<JobCommand, Job> make) {}

    static final List<JobKind> JOBS = List.of(
            new JobKind("alpaca", "Answer Alpaca instructions with the Alpaca prompt: {instruction, input, output}.", false,
                    c -> new AlpacaJob(c.temperature, c.maxTokens)),
            new JobKind("translate", "Translate Alpaca instructions and inputs to Chinese (--translator-model, default the"
                    + " teacher), then answer them in Chinese: the alpaca_gpt4_data_zh format.", false,
                    c -> c.translatorModel == null || c.translatorModel.equals(c.api.model) ? new TranslateJob()
                            : new TranslateJob(c.teacher(c.translatorModel), c.translatorModel)),
            new JobKind("compare", "Rate K models' answers to the same instructions 1-10 with the paper's rating prompt"
                    + " (--in once per answer file): {user_input, responses_and_scores:[{response, score, source}]}.", true,
                    c -> new CompareJob(c.inputs)),
            new JobKind("unnatural", "Answer Unnatural Instructions, keeping the data set's answer as reference_output.", false,
                    c -> new UnnaturalJob(c.temperature, c.maxTokens)),
            new JobKind("instructions", "Generate new instructions from seed tasks as Alpaca's self-instruct does (--rounds"
                    + " requests of 20, filtered, ROUGE-L > 0.7 duplicates dropped).", false,
                    c -> new InstructionsJob(c.rounds, c.seed)));

    @Spec
    CommandSpec spec;

    /** The {@code datagen} command with one subcommand per job. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new DatagenCommand());
        for (JobKind kind : JOBS) {
            CommandLine sub = new CommandLine(new JobCommand(kind));
            sub.getCommandSpec().usageMessage().description(kind.description());
            cl.addSubcommand(kind.name(), sub);
        }
        return cl;
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Where the usage of each run against {@code out} is kept: one JSON line per run. */
    static Path usageFile(Path out) {
        return out.resolveSibling(out.getFileName() + ".usage.jsonl");
    }

    /** One job's run: read the input, run what is not done, export. */
    @Command(mixinStandardHelpOptions = true, sortOptions = false)
    static final class JobCommand implements Callable<Integer> {
        private final JobKind kind;

        @Spec
        CommandSpec spec;

        JobCommand(JobKind kind) {
            this.kind = kind;
        }

        @Option(names = "--in", required = true, description = "input file (JSON array or JSONL); repeated where a job reads several")
        List<Path> inputs = new ArrayList<>();

        @Mixin
        OutFlag records = new OutFlag();

        @Option(names = "--questions", description = "compare: the question file (Vicuna, user-oriented or Alpaca) whose"
                + " order and ids the answers follow, needed when they are FastChat answers (default: the first --in)")
        Path questions;

        @Option(names = "--export", description = "after the run, write the released JSON file (records in input order) here")
        Path export;

        @Option(names = "--temperature", defaultValue = "0.7", description = "sampling temperature (default: ${DEFAULT-VALUE})")
        double temperature;

        @Option(names = "--max-tokens", defaultValue = "1024", description = "most tokens per answer (default: ${DEFAULT-VALUE})")
        int maxTokens;

        @Mixin
        TeacherFlags api = new TeacherFlags();

        @Option(names = "--translator-model", description = "translate: the model that translates (default: --model)")
        String translatorModel;

        @Option(names = "--rounds", defaultValue = "10", description = "instructions: generation requests (default: ${DEFAULT-VALUE})")
        int rounds;

        @Option(names = "--seed", defaultValue = "42", description = "instructions: which seed tasks each round shows (default: ${DEFAULT-VALUE})")
        long seed;

        /** Teachers opened for this run (the main one, a translator), closed when it ends. */
        private final List<OpenAiTeacher> opened = new ArrayList<>();

        /** A teacher for {@code model} with this command's API flags. */
        OpenAiTeacher teacher(String model) {
            OpenAiTeacher t = api.open(model);
            opened.add(t);
            return t;
        }

        @Override
        public Integer call() throws Exception {
            api.runOptions(); // every flag checked before anything is read
            if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be positive, got " + maxTokens);
            if (!(temperature >= 0 && temperature <= 2)) throw new IllegalArgumentException("--temperature must be in [0, 2], got " + temperature);
            if (!kind.manyInputs() && inputs.size() != 1) throw new IllegalArgumentException("datagen " + kind.name() + " reads one --in file, got " + inputs.size());
            if (questions != null && !kind.manyInputs()) throw new IllegalArgumentException("--questions is for datagen compare, not " + kind.name());

            try {
                return run();
            } finally {
                for (OpenAiTeacher t : opened) t.close();
            }
        }

        private int run() throws Exception {
            Path out = records.file();
            Job job = kind.make().apply(this);
            List<Item> items = job.read(questions != null ? questions : inputs.getFirst());
            PrintWriter err = spec.commandLine().getErr();
            PrintWriter stdout = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
            JobRunner runner = new JobRunner(job, api.model, items, out, err);
            RunOptions options = api.runOptions();
            if (api.dryRun) {
                runner.dryRun(options, stdout);
                return 0;
            }
            RunSummary summary = null;
            if (api.limit == null || api.limit > 0) { // --limit 0 --export only exports, without a teacher
                OpenAiTeacher teacher = teacher(api.model);
                summary = runner.run(teacher, options, System.console() != null && System.console().isTerminal());
                stdout.print(summary.describe(job.name()));
                // what this run cost, appended: the file keeps one line per run of the same --out
                AtomicFiles.appendLine(usageFile(out), teacher.usage().snapshot().toJson().toString());
                if (!summary.failed().isEmpty()) {
                    stdout.println("failures are listed in " + JobRunner.failuresFile(out) + "; run the same command again to retry them");
                }
            }
            if (export != null) {
                int missing = runner.export(export);
                stdout.println("exported " + (items.size() - missing) + " of " + items.size() + " records to " + export
                        + (missing > 0 ? " (" + missing + " not done yet)" : ""));
            }
            stdout.flush();
            return summary == null || summary.failed().isEmpty() ? 0 : 1;
        }
    }
}
