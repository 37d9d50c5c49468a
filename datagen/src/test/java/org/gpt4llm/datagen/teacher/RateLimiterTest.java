package org.gpt4llm.datagen.teacher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateLimiterTest {
    /** Virtual time: sleeping moves the clock forward at once, so minutes of admissions take milliseconds. */
    static final class VirtualClock implements RateLimiter.Clock {
        final AtomicLong now = new AtomicLong(1_000_000_000L);

        @Override
        public long nanoTime() {
            return now.get();
        }

        @Override
        public void sleepNanos(long nanos) {
            long target = now.get() + nanos;
            now.accumulateAndGet(target, Math::max);
            Thread.yield();
        }

        void advance(Duration d) {
            now.addAndGet(d.toNanos());
        }
    }

    private record Admission(long time, long tokens) {}

    private static final long MINUTE = Duration.ofMinutes(1).toNanos();

    /** The most requests and tokens admitted in any window [t, t + 60 s). */
    private static long[] maxInAnyMinute(List<Admission> admissions) {
        List<Admission> sorted = new ArrayList<>(admissions);
        sorted.sort((a, b) -> Long.compare(a.time, b.time));
        long maxCount = 0;
        long maxTokens = 0;
        long tokens = 0;
        for (int start = 0, end = 0; start < sorted.size(); start++) {
            while (end < sorted.size() && sorted.get(end).time - sorted.get(start).time < MINUTE) tokens += sorted.get(end++).tokens;
            maxCount = Math.max(maxCount, end - start);
            maxTokens = Math.max(maxTokens, tokens);
            tokens -= sorted.get(start).tokens;
        }
        return new long[] {maxCount, maxTokens};
    }

    @Test
    void manyThreadsNeverExceedTheRequestAndTokenLimitsInAnyMinute() throws Exception {
        VirtualClock clock = new VirtualClock();
        int rpm = 50;
        long tpm = 20_000;
        RateLimiter limiter = new RateLimiter(rpm, tpm, Duration.ofMinutes(1), clock);
        List<Admission> admissions = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(16)) {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                long seed = t;
                done.add(pool.submit(() -> {
                    Random random = new Random(seed);
                    for (int i = 0; i < 40; i++) {
                        long reserve = 100 + random.nextInt(1900);
                        RateLimiter.Permit permit = limiter.acquire(reserve);
                        // Actual usage at most the reservation, as when max_tokens bounds the answer.
                        long actual = reserve - random.nextInt((int) reserve);
                        permit.settle(actual);
                        synchronized (admissions) {
                            admissions.add(new Admission(permit.admittedAtNanos(), actual));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
        }
        assertEquals(640, admissions.size());
        long[] max = maxInAnyMinute(admissions);
        assertTrue(max[0] <= rpm, "max requests in a minute " + max[0] + " > " + rpm);
        assertTrue(max[1] <= tpm, "max tokens in a minute " + max[1] + " > " + tpm);
        // Limits that bind: the admissions span many minutes and some minute comes close to a limit.
        long span = admissions.stream().mapToLong(Admission::time).max().getAsLong()
                - admissions.stream().mapToLong(Admission::time).min().getAsLong();
        assertTrue(span > 5 * MINUTE, "span " + span / 1e9 + " s");
        assertTrue(max[0] >= rpm * 0.9 || max[1] >= tpm * 0.8, "max " + max[0] + " requests, " + max[1] + " tokens");
    }

    @Test
    void reservationsHoldUntilSettledAndSettlingFreesCapacity() throws Exception {
        VirtualClock clock = new VirtualClock();
        RateLimiter limiter = new RateLimiter(0, 1000, Duration.ofMinutes(1), clock);
        long start = clock.nanoTime();
        RateLimiter.Permit first = limiter.acquire(800);
        first.settle(100);
        // 100 + 900 fits the minute once the first settled to its actual usage (800 + 900 would not):
        // the second waits only for pacing (the first's 1-second slice), not for the first to leave the minute.
        RateLimiter.Permit second = limiter.acquire(900);
        long secondAt = second.admittedAtNanos() - start;
        assertTrue(secondAt >= Duration.ofSeconds(1).toNanos() && secondAt < Duration.ofSeconds(2).toNanos(), "admitted after " + secondAt / 1e9 + " s");
        // 100 + 900 + 500 does not fit: the third waits for both to leave the minute.
        RateLimiter.Permit third = limiter.acquire(500);
        assertTrue(third.admittedAtNanos() - second.admittedAtNanos() >= MINUTE,
                "admitted after " + (third.admittedAtNanos() - start) / 1e9 + " s");
    }

    @Test
    void pacingSpreadsAdmissionsOverTheWindow() throws Exception {
        VirtualClock clock = new VirtualClock();
        RateLimiter limiter = new RateLimiter(120, 0, Duration.ofMinutes(1), clock);
        long start = clock.nanoTime();
        long[] times = new long[120];
        for (int i = 0; i < 120; i++) times[i] = limiter.acquire(1).admittedAtNanos() - start;
        // 2 per 1-second slice: the 120th comes in the last second of the minute, not at once.
        assertTrue(times[119] >= Duration.ofSeconds(59).toNanos(), "last admitted after " + times[119] / 1e9 + " s");
        assertTrue(times[119] < MINUTE, "last admitted after " + times[119] / 1e9 + " s");
        for (int i = 2; i < 120; i++) assertTrue(times[i] - times[i - 2] >= Duration.ofSeconds(1).toNanos(), "requests " + (i - 2) + " and " + i);
    }

    @Test
    void aRequestAboveTheTokenLimitIsRefused() {
        RateLimiter limiter = new RateLimiter(10, 100, Duration.ofMinutes(1), new VirtualClock());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> limiter.acquire(101));
        assertTrue(e.getMessage().contains("101 tokens"), e.getMessage());
    }

    @Test
    void noLimitsAdmitAtOnce() throws Exception {
        VirtualClock clock = new VirtualClock();
        RateLimiter limiter = new RateLimiter(0, 0, Duration.ofMinutes(1), clock);
        long start = clock.nanoTime();
        for (int i = 0; i < 10_000; i++) assertEquals(start, limiter.acquire(1_000_000).admittedAtNanos());
    }
}
