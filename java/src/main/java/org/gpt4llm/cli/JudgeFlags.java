package org.gpt4llm.cli;

import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;
import picocli.CommandLine.Option;

/** The flags of {@code eval judge} and {@code eval bestofn} that pick the judge and how it is asked (datagen's API flags). */
final class JudgeFlags {
    @Option(names = "--mode", defaultValue = "vicuna",
            description = "vicuna (two scores on the first line, the paper's), pairwise ([[A]]/[[B]]/[[C]]) or single ([[rating]]) (default: ${DEFAULT-VALUE})")
    String mode;

    @Option(names = "--api-base", defaultValue = "https://api.openai.com/v1", description = "OpenAI-compatible API of the judge (default: ${DEFAULT-VALUE})")
    String apiBase;

    @Option(names = "--model", defaultValue = "gpt-4", description = "the judge model (default: ${DEFAULT-VALUE})")
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

    @Option(names = "--limit", description = "judge at most this many reviews per model this run (the first not done yet)")
    Integer limit;

    @Option(names = "--dry-run", description = "print the first requests to the judge and stop: send nothing, write nothing")
    boolean dryRun;

    @Option(names = "--quiet", description = "no progress lines on stderr")
    boolean quiet;

    Mode mode() {
        return switch (mode) {
            case "vicuna" -> Mode.VICUNA;
            case "pairwise" -> Mode.PAIRWISE;
            case "single" -> Mode.SINGLE;
            default -> throw new IllegalArgumentException("--mode must be vicuna, pairwise or single, got \"" + mode + "\"");
        };
    }

    RunOptions runOptions() {
        if (concurrency < 1) throw new IllegalArgumentException("--concurrency must be at least 1, got " + concurrency);
        if (limit != null && limit < 0) throw new IllegalArgumentException("--limit must not be negative, got " + limit);
        if (rpm < 0 || tpm < 0) throw new IllegalArgumentException("--rpm and --tpm must not be negative");
        if (timeoutSeconds < 1) throw new IllegalArgumentException("--timeout must be at least 1 second, got " + timeoutSeconds);
        if (maxAttempts < 1) throw new IllegalArgumentException("--max-attempts must be at least 1, got " + maxAttempts);
        return new RunOptions(concurrency, limit == null ? -1 : limit, dryRun, 3, quiet);
    }

    OpenAiTeacher teacher() {
        return DatagenCommand.openTeacher(model, apiBase, apiKeyEnv, rpm, tpm, timeoutSeconds, maxAttempts, null, null);
    }
}
