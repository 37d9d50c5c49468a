package org.gpt4llm.datagen.bench;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.RateLimiter;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.gpt4llm.datagen.teacher.TeacherOptions;

/**
 * Teacher throughput against {@link FakeTeacherServer} with a fixed latency, per concurrency: it
 * rises with the number of threads until the client's request limit caps it, and the server's count
 * of arrivals in any window never exceeds that limit.
 *
 * <p>The limit is "requests per window"; a window shorter than the API's minute shows the cap within
 * seconds. The client enforces it over the window plus a margin, as {@link RateLimiter#perMinute} does,
 * so that jitter between admission and arrival never lets the server count more.
 */
public final class TeacherBench {
    /**
     * @param requests      requests per concurrency level
     * @param latency       the server's fixed latency per request
     * @param limit         requests per window, 0 for none
     * @param window        the window the server counts over
     * @param margin        added to the window on the client's side
     */
    public record Config(List<Integer> concurrencies, int requests, Duration latency, int limit, Duration window, Duration margin) {
        public Config {
            concurrencies = List.copyOf(concurrencies);
            if (requests < 1) throw new IllegalArgumentException("--requests must be >= 1, got " + requests);
            if (limit < 0) throw new IllegalArgumentException("--limit must be >= 0, got " + limit);
            for (int c : concurrencies) if (c < 1) throw new IllegalArgumentException("concurrency must be >= 1, got " + c);
        }

        /** 300 requests, 100 ms latency, 300 requests per 5 s window (60/s), concurrency 1..32. */
        public static Config defaults() {
            return new Config(List.of(1, 2, 4, 8, 16, 32), 300, Duration.ofMillis(100), 300, Duration.ofSeconds(5), Duration.ofMillis(250));
        }
    }

    /**
     * One concurrency level's result.
     *
     * @param answered        requests that got their answer (all of them, or the run is wrong)
     * @param maxInWindow     the most arrivals the server counted in any window
     * @param limit           the configured requests per window
     */
    public record Row(int concurrency, int requests, int answered, double seconds, double requestsPerSecond,
                      int maxInWindow, int limit, Duration window) {
        /** The cap the limit puts on requests per second. */
        public double limitPerSecond() {
            return limit == 0 ? Double.POSITIVE_INFINITY : limit / (window.toNanos() / 1e9);
        }

        public String format() {
            return String.format(Locale.ROOT, "%11d %9d %9d %9.2f %11.1f %13d / %d per %ss",
                    concurrency, requests, answered, seconds, requestsPerSecond, maxInWindow, limit, window.toMillis() / 1000.0);
        }
    }

    public static final String HEADER = "concurrency  requests  answered   seconds  requests/s  max in window";

    private TeacherBench() {}

    /** Runs every concurrency level against a fresh server and client. */
    public static List<Row> run(Config config) throws IOException, InterruptedException {
        List<Row> rows = new ArrayList<>();
        for (int concurrency : config.concurrencies()) rows.add(runLevel(config, concurrency));
        return rows;
    }

    private static Row runLevel(Config config, int concurrency) throws IOException, InterruptedException {
        try (FakeTeacherServer server = new FakeTeacherServer(0).latency(config.latency()).start()) {
            TeacherOptions options = TeacherOptions.defaults("bench")
                    .withApiBase(server.apiBase())
                    .withKey(TeacherOptions.DEFAULT_KEY_VARIABLE, name -> null)
                    .withTimeout(config.latency().plusSeconds(30));
            RateLimiter limiter = new RateLimiter(config.limit(), 0, config.window().plus(config.margin()), RateLimiter.Clock.SYSTEM);
            int answered = 0;
            long start = System.nanoTime();
            try (OpenAiTeacher teacher = new OpenAiTeacher(options, limiter);
                    ExecutorService pool = Executors.newFixedThreadPool(concurrency)) {
                List<Future<ChatResponse>> futures = new ArrayList<>();
                for (int i = 0; i < config.requests(); i++) {
                    String question = "Request " + i;
                    futures.add(pool.submit(() -> teacher.chat(ChatRequest.of(question, 0, 16))));
                }
                for (int i = 0; i < futures.size(); i++) {
                    try {
                        if (futures.get(i).get().content().equals(FakeTeacherServer.defaultAnswer("Request " + i))) answered++;
                    } catch (ExecutionException e) {
                        if (!(e.getCause() instanceof TeacherException)) throw new IllegalStateException(e.getCause());
                    }
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return new Row(concurrency, config.requests(), answered, seconds, config.requests() / seconds,
                    server.maxRequestsInAnyWindow(config.window()), config.limit(), config.window());
        }
    }
}
