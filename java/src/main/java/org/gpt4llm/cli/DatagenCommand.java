package org.gpt4llm.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
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
import org.gpt4llm.datagen.teacher.TeacherOptions;
import org.gpt4llm.io.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
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
                    c -> c.translatorModel == null ? new TranslateJob() : new TranslateJob(c.teacher(c.translatorModel))),
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

    /**
     * The teacher the jobs ask: the one place the flags {@code --api-base --model --api-key-env --rpm
     * --tpm --timeout --max-attempts --concurrency} become a client.
     */
    static OpenAiTeacher openTeacher(JobCommand flags, String model) {
        return openTeacher(model, flags.apiBase, flags.apiKeyEnv, flags.rpm, flags.tpm, flags.timeoutSeconds, flags.maxAttempts,
                flags.promptPrice, flags.completionPrice);
    }

    /** A teacher for {@code model} from the API flags' values (a null price keeps GPT-4 8K's); the judge's too. */
    static OpenAiTeacher openTeacher(String model, String apiBase, String apiKeyEnv, int rpm, int tpm, int timeoutSeconds,
                                     int maxAttempts, Double promptPrice, Double completionPrice) {
        TeacherOptions o = TeacherOptions.defaults(model);
        o = o.withApiBase(apiBase).withKey(apiKeyEnv, System::getenv).withLimits(rpm, tpm)
                .withTimeout(Duration.ofSeconds(timeoutSeconds))
                .withRetries(maxAttempts, o.backoffBase(), o.backoffMax());
        if (promptPrice != null || completionPrice != null) {
            o = o.withPrices(promptPrice != null ? promptPrice : o.promptPricePer1K(),
                    completionPrice != null ? completionPrice : o.completionPricePer1K());
        }
        return new OpenAiTeacher(o);
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

        @Option(names = "--out", required = true, description = "output JSONL: one line per finished item, appended; a rerun skips what it has")
        Path out;

        @Option(names = "--export", description = "after the run, write the released JSON file (records in input order) here")
        Path export;

        @Option(names = "--api-base", defaultValue = "https://api.openai.com/v1", description = "OpenAI-compatible API (default: ${DEFAULT-VALUE})")
        String apiBase;

        @Option(names = "--model", defaultValue = "gpt-4", description = "the teacher model (default: ${DEFAULT-VALUE})")
        String model;

        @Option(names = "--api-key-env", defaultValue = "OPENAI_API_KEY",
                description = "environment variable holding the API key; the key is never printed or saved (default: ${DEFAULT-VALUE})")
        String apiKeyEnv;

        @Option(names = "--concurrency", defaultValue = "8", description = "requests in flight at once (default: ${DEFAULT-VALUE})")
        int concurrency;

        @Option(names = "--rpm", defaultValue = "0", description = "most requests per minute, 0 for no limit (default: ${DEFAULT-VALUE})")
        int rpm;

        @Option(names = "--tpm", defaultValue = "0", description = "most tokens per minute, 0 for no limit (default: ${DEFAULT-VALUE})")
        int tpm;

        @Option(names = "--timeout", defaultValue = "120", description = "seconds one request may take (default: ${DEFAULT-VALUE})")
        int timeoutSeconds;

        @Option(names = "--max-attempts", defaultValue = "6", description = "tries per request on 429, 5xx, timeouts (default: ${DEFAULT-VALUE})")
        int maxAttempts;

        @Option(names = "--temperature", defaultValue = "0.7", description = "sampling temperature (default: ${DEFAULT-VALUE})")
        double temperature;

        @Option(names = "--max-tokens", defaultValue = "1024", description = "most tokens per answer (default: ${DEFAULT-VALUE})")
        int maxTokens;

        @Option(names = "--price-prompt", description = "dollars per 1K prompt tokens, for the cost (default: GPT-4 8K's 0.03)")
        Double promptPrice;

        @Option(names = "--price-completion", description = "dollars per 1K completion tokens (default: GPT-4 8K's 0.06)")
        Double completionPrice;

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
            OpenAiTeacher t = openTeacher(this, model);
            opened.add(t);
            return t;
        }

        @Option(names = "--limit", description = "run at most this many items (the first ones not done yet)")
        Integer limit;

        @Option(names = "--dry-run", description = "print the first requests and stop: send nothing, write nothing")
        boolean dryRun;

        @Option(names = "--quiet", description = "no progress lines on stderr")
        boolean quiet;

        @Override
        public Integer call() throws Exception {
            if (concurrency < 1) throw new IllegalArgumentException("--concurrency must be at least 1, got " + concurrency);
            if (limit != null && limit < 0) throw new IllegalArgumentException("--limit must not be negative, got " + limit);
            if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be positive, got " + maxTokens);
            if (!(temperature >= 0 && temperature <= 2)) throw new IllegalArgumentException("--temperature must be in [0, 2], got " + temperature);
            if (rpm < 0 || tpm < 0) throw new IllegalArgumentException("--rpm and --tpm must not be negative");
            if (timeoutSeconds < 1) throw new IllegalArgumentException("--timeout must be at least 1 second, got " + timeoutSeconds);
            if (maxAttempts < 1) throw new IllegalArgumentException("--max-attempts must be at least 1, got " + maxAttempts);
            if (!kind.manyInputs() && inputs.size() != 1) throw new IllegalArgumentException("datagen " + kind.name() + " reads one --in file, got " + inputs.size());

            try {
                return run();
            } finally {
                for (OpenAiTeacher t : opened) t.close();
            }
        }

        private int run() throws Exception {
            Job job = kind.make().apply(this);
            List<Item> items = job.read(inputs.getFirst());
            PrintWriter err = spec.commandLine().getErr();
            PrintWriter stdout = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
            JobRunner runner = new JobRunner(job, items, out, err);
            RunOptions options = new RunOptions(concurrency, limit == null ? -1 : limit, dryRun, 3, quiet);
            if (dryRun) {
                runner.dryRun(options, stdout);
                return 0;
            }
            RunSummary summary = null;
            if (limit == null || limit > 0) { // --limit 0 --export only exports, without a teacher
                OpenAiTeacher teacher = teacher(model);
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
