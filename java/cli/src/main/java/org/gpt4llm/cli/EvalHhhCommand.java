package org.gpt4llm.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.gpt4llm.eval.hhh.HhhServer;
import org.gpt4llm.eval.hhh.HhhTasks;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm eval hhh}: the paper's human evaluation (Fig. 3) as a local web page: raters judge
 * two anonymised answers per instruction on helpfulness, honesty and harmlessness; runs until
 * interrupted (Ctrl-C), every vote already on disk.
 */
@Command(name = "hhh", mixinStandardHelpOptions = true,
        description = "Human evaluation page (helpfulness, honesty, harmlessness) on 127.0.0.1; votes appended to a JSONL file.")
public final class EvalHhhCommand implements Callable<Integer> {
    @Option(names = "--questions", required = true, description = "questions: Vicuna JSONL, user-oriented instructions or Alpaca JSON")
    Path questions;

    @Option(names = "--a", required = true, description = "answers of model A (FastChat answer JSONL or records with id and output)")
    Path answersA;

    @Option(names = "--b", required = true, description = "answers of model B")
    Path answersB;

    @Option(names = "--name-a", description = "name of model A (default: the answers' model_id, else the file name)")
    String nameA;

    @Option(names = "--name-b", description = "name of model B")
    String nameB;

    @Option(names = "--votes", required = true, description = "votes file (JSONL, appended to; an existing one is resumed)")
    Path votes;

    @Option(names = "--summary", description = "summary JSON, pies next to it (default: VOTES-summary.json)")
    Path summary;

    @Option(names = "--port", description = "port on 127.0.0.1, 0 for any free one (default 8765)")
    int port = 8765;

    @Option(names = "--rater", description = "rater name used when the page is opened without one")
    String rater;

    @Override
    public Integer call() throws IOException, InterruptedException {
        HhhTasks tasks = HhhTasks.load(questions, answersA, answersB, nameA, nameB);
        Path summaryFile = summary != null ? summary : defaultSummary(votes);
        HhhServer server;
        try {
            server = new HhhServer(tasks, votes, summaryFile, port, rater, Clock.systemUTC());
        } catch (java.net.BindException e) {
            throw new IllegalArgumentException("--port " + port + " is in use on 127.0.0.1; pick another or 0 for any free one");
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (IOException ignored) {
                // every vote was forced to disk when cast
            }
            stopped.countDown();
        }));
        System.out.printf("%d questions, %s vs %s; votes in %s, summary in %s%nOpen %s%s (Ctrl-C to stop)%n",
                tasks.tasks().size(), tasks.modelA(), tasks.modelB(), votes, summaryFile, server.uri(),
                rater == null ? "" : "?rater=" + java.net.URLEncoder.encode(rater, java.nio.charset.StandardCharsets.UTF_8));
        System.out.flush();
        stopped.await();
        return 0;
    }

    static Path defaultSummary(Path votes) {
        String name = votes.getFileName().toString();
        String stem = name.endsWith(".jsonl") ? name.substring(0, name.length() - 6) : name;
        return votes.resolveSibling(stem + "-summary.json");
    }
}
