package org.gpt4llm.cli;

import java.time.Duration;
import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.TeacherOptions;
import picocli.CommandLine.Option;

/**
 * The flags of every command that asks a GPT-4-class model through an OpenAI-compatible API and runs
 * its requests resumably ({@code datagen}, {@code eval judge}, {@code eval bestofn}): where the API
 * is, its limits, and how much of the work this run does. The one place they become a client.
 */
final class TeacherFlags {
    @Option(names = "--api-base", defaultValue = "https://api.openai.com/v1", description = "OpenAI-compatible API (default: ${DEFAULT-VALUE})")
    String apiBase;

    @Option(names = "--model", defaultValue = "gpt-4", description = "the model asked (default: ${DEFAULT-VALUE})")
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

    @Option(names = "--price-prompt", description = "dollars per 1K prompt tokens, for the cost (default: GPT-4 8K's 0.03)")
    Double promptPrice;

    @Option(names = "--price-completion", description = "dollars per 1K completion tokens (default: GPT-4 8K's 0.06)")
    Double completionPrice;

    @Option(names = "--limit", description = "run at most this many items this time (the first ones not done yet)")
    Integer limit;

    @Option(names = "--dry-run", description = "print the first requests and stop: send nothing, write nothing")
    boolean dryRun;

    @Option(names = "--quiet", description = "no progress lines on stderr")
    boolean quiet;

    /** The runner's options, after checking every flag (a bad one is named). */
    RunOptions runOptions() {
        if (concurrency < 1) throw new IllegalArgumentException("--concurrency must be at least 1, got " + concurrency);
        if (limit != null && limit < 0) throw new IllegalArgumentException("--limit must not be negative, got " + limit);
        if (rpm < 0 || tpm < 0) throw new IllegalArgumentException("--rpm and --tpm must not be negative");
        if (timeoutSeconds < 1) throw new IllegalArgumentException("--timeout must be at least 1 second, got " + timeoutSeconds);
        if (maxAttempts < 1) throw new IllegalArgumentException("--max-attempts must be at least 1, got " + maxAttempts);
        return new RunOptions(concurrency, limit == null ? -1 : limit, dryRun, 3, quiet);
    }

    /** A client for {@code model} (the asked model, or another such as a translator) with these flags. */
    OpenAiTeacher open(String model) {
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
}
