package org.gpt4llm.cli;

import java.io.IOException;
import java.net.BindException;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.gpt4llm.datagen.demo.DemoTasks;
import org.gpt4llm.datagen.demo.DemoTeacherServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm demo teacher}: serves the rule-based demo teacher ({@link DemoTeacherServer}) over the
 * OpenAI chat API on 127.0.0.1 until interrupted, for {@code gpt4llm datagen alpaca} and {@code compare}
 * to run against without a key or network.
 */
@Command(name = "teacher", mixinStandardHelpOptions = true,
        description = "Serve the rule-based demo teacher (OpenAI-compatible chat API on 127.0.0.1; not a language model).")
public final class DemoTeacherCommand implements Callable<Integer> {
    @Option(names = "--port", defaultValue = "8780", description = "port on 127.0.0.1, 0 for any free one (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--wrong-share", defaultValue = "0", description = "share of the tasks answered sloppily (near misses,"
            + " chatter, wrong answers): a weaker teacher, 0 to 1 (default: ${DEFAULT-VALUE}, the strong teacher)")
    double wrongShare;

    @Override
    public Integer call() throws Exception {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
        DemoTeacherServer.checkShare(wrongShare);
        DemoTeacherServer server;
        try {
            server = DemoTeacherServer.start(port, wrongShare);
        } catch (BindException e) {
            throw new IOException("--port " + port + " is already in use on 127.0.0.1; pick another or 0 for any free port", e);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        // Ctrl-C and SIGTERM stop the server
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "gpt4llm-demo-teacher-shutdown"));
        System.out.println("demo teacher (rule-based, not a language model" + (wrongShare > 0
                ? String.format(java.util.Locale.ROOT, "; %.0f%% of the tasks answered sloppily", 100 * wrongShare) : "") + ") serving model " + DemoTeacherServer.MODEL
                + " at " + server.apiBase() + " (Ctrl-C to stop)");
        System.out.println("it answers the Alpaca prompt for the demo tasks (" + String.join(", ", DemoTasks.categories())
                + ") and rates answers to them 1-10; try: gpt4llm datagen alpaca --api-base " + server.apiBase()
                + " --model " + DemoTeacherServer.MODEL + " --in TASKS.json --out answers.jsonl");
        System.out.flush();
        stopped.await();
        return 0;
    }
}
