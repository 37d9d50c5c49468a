package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.bench.StepBench;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code gpt4llm bench}: side-by-side performance against a peer measured in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Side-by-side performance: our engine against a peer, measured in one run.",
        subcommands = {BenchCommand.Step.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    @Command(name = "step", mixinStandardHelpOptions = true,
            description = "Time one training step (forward, backward, AdamW) of a random-init LLaMA in our CPU "
                    + "backend and in libtorch, with identical weights, batch and thread count.")
    static final class Step implements Callable<Integer> {
        @Option(names = "--preset", defaultValue = "small", description = "model size: tiny, small or 7b (default: ${DEFAULT-VALUE})")
        String preset;

        @Option(names = "--compare", defaultValue = "libtorch", description = "peer: libtorch or none (default: ${DEFAULT-VALUE})")
        String compare;

        @Option(names = "--vocab", defaultValue = "32000", description = "vocabulary size (default: ${DEFAULT-VALUE})")
        int vocab;

        @Option(names = "--batch", defaultValue = "4", description = "sequences per step (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--seq", defaultValue = "256", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
        int seq;

        @Option(names = "--threads", description = "threads for both sides (default: available processors)")
        Integer threads;

        @Option(names = "--steps", defaultValue = "5", description = "timed steps per side (default: ${DEFAULT-VALUE})")
        int steps;

        @Option(names = "--warmup", defaultValue = "1", description = "untimed steps first (default: ${DEFAULT-VALUE})")
        int warmup;

        @Option(names = "--seed", defaultValue = "0", description = "weights and batch seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--json", description = "also write the numbers to this JSON file")
        Path json;

        @Option(names = "--quiet", description = "print only the report, not each step")
        boolean quiet;

        @Override
        public Integer call() throws Exception {
            boolean libtorch = switch (compare.toLowerCase(Locale.ROOT)) {
                case "libtorch", "torch" -> true;
                case "none" -> false;
                default -> throw new IllegalArgumentException("--compare " + compare + " is not libtorch or none");
            };
            StepBench.Options o = new StepBench.Options(preset, vocab, batch, seq,
                    threads == null ? Runtime.getRuntime().availableProcessors() : threads, steps, warmup, seed,
                    libtorch, StepBench.Options.defaults().lr(), StepBench.Options.defaults().maxGradNorm());
            StepBench.Result r = StepBench.run(o, quiet ? null : System.out);
            System.out.print(r.toText());
            if (json != null) {
                r.writeJson(json);
                System.out.println("wrote " + json);
            }
            return 0;
        }
    }
}
