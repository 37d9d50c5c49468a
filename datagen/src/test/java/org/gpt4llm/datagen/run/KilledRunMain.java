package org.gpt4llm.datagen.run;

import java.io.PrintWriter;
import java.nio.file.Path;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.Job;

/** A run for {@link KilledRunTest} to kill: the Alpaca job over {@code args[0]} into {@code args[1]}, 20 ms a teacher call. */
public final class KilledRunMain {
    public static void main(String[] args) throws Exception {
        Job job = new AlpacaJob(0.7, 64);
        PrintWriter err = new PrintWriter(System.err, true);
        JobRunner runner = new JobRunner(job, "double", job.read(Path.of(args[0])), Path.of(args[1]), err);
        RunSummary s = runner.run(request -> {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return Doubles.respond(request);
        }, RunOptions.defaults().withConcurrency(4), false);
        System.out.print(s.describe(job.name()));
        System.exit(s.complete() ? 0 : 1);
    }
}
