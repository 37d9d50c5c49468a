package org.gpt4llm.datagen.teacher;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Client-side limits on requests and tokens per window (a minute for the API), shared by all threads
 * of a client.
 *
 * <p>A sliding-window log of admissions: a request is admitted at time t only if the admissions in
 * (t - window, t], itself included, stay within both limits, so no window of that length ever holds
 * more. Admissions are also paced over slices of the window (1/60 of it, or 1/limit for small request
 * limits): while a slice already holds its share, the next request waits. APIs enforce per-minute
 * limits over such shorter periods too, and pacing turns "the whole minute's budget in one burst,
 * then a stall" into a steady rate.
 *
 * <p>A request reserves its estimated tokens on admission and {@link Permit#settle settles} to the
 * actual usage afterwards, which frees (or takes) capacity for later admissions. Waiters are served in
 * arrival order, so a large request is not starved by small ones.
 */
public final class RateLimiter {
    /** Time source and sleep, injectable so tests can run minutes of admissions in milliseconds. */
    public interface Clock {
        long nanoTime();

        void sleepNanos(long nanos) throws InterruptedException;

        Clock SYSTEM = new Clock() {
            @Override
            public long nanoTime() {
                return System.nanoTime();
            }

            @Override
            public void sleepNanos(long nanos) throws InterruptedException {
                if (nanos > 0) Thread.sleep(Duration.ofNanos(nanos));
            }
        };
    }

    /** One admission; {@link #settle} it with the actual token count once the answer says it. */
    public final class Permit {
        private final Entry entry;

        private Permit(Entry entry) {
            this.entry = entry;
        }

        /** When it was admitted, on the limiter's clock. */
        public long admittedAtNanos() {
            return entry.time;
        }

        /** Tokens it counts for now (the reservation until settled). */
        public long tokens() {
            lock.lock();
            try {
                return entry.tokens;
            } finally {
                lock.unlock();
            }
        }

        /** Replaces the reservation by the tokens actually used. */
        public void settle(long actualTokens) {
            if (actualTokens < 0) throw new IllegalArgumentException("actual tokens must be >= 0, got " + actualTokens);
            lock.lock();
            try {
                if (entry.inLog) tokensInLog += actualTokens - entry.tokens;
                entry.tokens = actualTokens;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private static final class Entry {
        final long time;
        long tokens;
        boolean inLog = true;

        Entry(long time, long tokens) {
            this.time = time;
            this.tokens = tokens;
        }
    }

    private static final int SLICES = 60;

    private final int requestLimit;
    private final long tokenLimit;
    private final long windowNanos;
    private final long requestSliceNanos;
    private final int requestSliceLimit;
    private final long tokenSliceNanos;
    private final long tokenSliceLimit;
    private final Clock clock;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** Admissions in the current window, oldest first (times never decrease). */
    private final ArrayDeque<Entry> log = new ArrayDeque<>();
    private long tokensInLog;
    /** Waiting callers in arrival order; only the head may be admitted. */
    private final ArrayDeque<Object> queue = new ArrayDeque<>();

    /**
     * @param requestLimit requests per window, 0 for no limit
     * @param tokenLimit   tokens per window, 0 for no limit
     */
    public RateLimiter(int requestLimit, long tokenLimit, Duration window, Clock clock) {
        if (requestLimit < 0) throw new IllegalArgumentException("request limit must be >= 0 (0: none), got " + requestLimit);
        if (tokenLimit < 0) throw new IllegalArgumentException("token limit must be >= 0 (0: none), got " + tokenLimit);
        if (window.isNegative() || window.isZero()) throw new IllegalArgumentException("rate window must be positive, got " + window);
        this.requestLimit = requestLimit;
        this.tokenLimit = tokenLimit;
        this.windowNanos = window.toNanos();
        int requestSlices = requestLimit == 0 ? 1 : Math.min(SLICES, requestLimit);
        this.requestSliceNanos = windowNanos / requestSlices;
        this.requestSliceLimit = requestLimit == 0 ? 0 : (requestLimit + requestSlices - 1) / requestSlices;
        this.tokenSliceNanos = windowNanos / SLICES;
        this.tokenSliceLimit = (tokenLimit + SLICES - 1) / SLICES;
        this.clock = clock;
    }

    /**
     * Limits per minute as an API states them, enforced over 61 s: the extra second absorbs the
     * jitter between admission here and arrival there, so the server never counts more in its minute.
     */
    public static RateLimiter perMinute(int requestsPerMinute, long tokensPerMinute) {
        return new RateLimiter(requestsPerMinute, tokensPerMinute, Duration.ofSeconds(61), Clock.SYSTEM);
    }

    public int requestLimit() {
        return requestLimit;
    }

    public long tokenLimit() {
        return tokenLimit;
    }

    public Duration window() {
        return Duration.ofNanos(windowNanos);
    }

    /** Waits until a request reserving {@code tokens} fits both limits, and admits it. */
    public Permit acquire(long tokens) throws InterruptedException {
        if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
        if (tokenLimit > 0 && tokens > tokenLimit)
            throw new IllegalArgumentException("a request reserving " + tokens + " tokens can never fit the limit of "
                    + tokenLimit + " tokens per " + window());
        Object ticket = new Object();
        lock.lock();
        try {
            queue.addLast(ticket);
            try {
                while (true) {
                    if (queue.peekFirst() != ticket) {
                        changed.await();
                        continue;
                    }
                    long now = clock.nanoTime();
                    long wait = waitNanos(now, tokens);
                    if (wait <= 0) {
                        Entry entry = new Entry(now, tokens);
                        log.addLast(entry);
                        tokensInLog += tokens;
                        return new Permit(entry);
                    }
                    // Sleep outside the lock so that settling permits is never blocked by a waiter, and
                    // at most a slice at a time so that capacity freed by settling is seen soon.
                    lock.unlock();
                    try {
                        clock.sleepNanos(Math.min(wait, Math.max(tokenSliceNanos, 1)));
                    } finally {
                        lock.lock();
                    }
                }
            } finally {
                queue.remove(ticket);
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /** 0 when a request of {@code tokens} fits now, else how long until the oldest entry blocking it leaves. */
    private long waitNanos(long now, long tokens) {
        while (!log.isEmpty() && log.peekFirst().time <= now - windowNanos) {
            Entry old = log.removeFirst();
            old.inLog = false;
            tokensInLog -= old.tokens;
        }
        long wait = 0;
        if (requestLimit > 0 && log.size() + 1 > requestLimit) wait = Math.max(wait, log.peekFirst().time + windowNanos - now);
        if (tokenLimit > 0 && tokensInLog + tokens > tokenLimit) {
            // Wait until enough of the oldest reservations leave the window.
            long excess = tokensInLog + tokens - tokenLimit;
            for (Entry e : log) {
                excess -= e.tokens;
                if (excess <= 0) {
                    wait = Math.max(wait, e.time + windowNanos - now);
                    break;
                }
            }
        }
        if (requestLimit > 0) wait = Math.max(wait, sliceWait(now, requestSliceNanos, requestSliceLimit, false));
        if (tokenLimit > 0) wait = Math.max(wait, sliceWait(now, tokenSliceNanos, tokenSliceLimit, true));
        return wait;
    }

    /**
     * Pacing: 0 while the latest slice holds less than its share (counted in requests or tokens), else
     * how long until its oldest entry leaves it.
     */
    private long sliceWait(long now, long sliceNanos, long sliceLimit, boolean countTokens) {
        long used = 0;
        Entry oldest = null;
        for (Iterator<Entry> it = log.descendingIterator(); it.hasNext(); ) {
            Entry e = it.next();
            if (e.time <= now - sliceNanos) break;
            used += countTokens ? e.tokens : 1;
            oldest = e;
        }
        return used < sliceLimit || oldest == null ? 0 : oldest.time + sliceNanos - now;
    }
}
