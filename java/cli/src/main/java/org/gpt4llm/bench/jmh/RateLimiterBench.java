package org.gpt4llm.bench.jmh;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.datagen.teacher.RateLimiter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The client-side bookkeeping of one admission ({@link RateLimiter#acquire}) and its settlement, on
 * one thread: with no limits (the lock and queue alone), and under GPT-4-like limits of 3,500
 * requests and 90,000 tokens per 61 s window with a virtual clock that advances 20 ms per reading,
 * so requests arrive at 50/s, never wait, and the sliding-window log holds about 3,000 entries as
 * in a long run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RateLimiterBench {
    @Param({"none", "gpt4"})
    public String limits;

    private RateLimiter limiter;

    /** Virtual time: every reading moves it 20 ms on; a sleep moves it by the time slept. */
    private static final class StepClock implements RateLimiter.Clock {
        private long now;

        @Override
        public long nanoTime() {
            return now += 20_000_000L;
        }

        @Override
        public void sleepNanos(long nanos) {
            now += nanos;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        limiter = limits.equals("none")
                ? new RateLimiter(0, 0, Duration.ofSeconds(61), new StepClock())
                : new RateLimiter(3500, 90_000, Duration.ofSeconds(61), new StepClock());
    }

    @Benchmark
    public long acquireAndSettle() throws InterruptedException {
        RateLimiter.Permit p = limiter.acquire(30);
        p.settle(25);
        return p.admittedAtNanos();
    }
}
