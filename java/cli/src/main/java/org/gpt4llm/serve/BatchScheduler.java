package org.gpt4llm.serve;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.TextGenerator;
import org.gpt4llm.generate.TokenListener;

/**
 * Gathers the rows of concurrent requests into batches for one {@link TextGenerator}: a single thread
 * takes the first waiting row, waits up to {@code batchWait} for more (at most {@code maxBatch}), and
 * decodes them in one {@code generate} call while new rows queue for the next batch. Each row's text
 * and result go to its request's {@link Sink}; a sink that reports its client gone cancels its rows.
 */
final class BatchScheduler {
    /** Where one request's rows report; called from the scheduler thread. */
    interface Sink {
        /** New text of choice {@code choice}; false when the client is gone (the row is cancelled). */
        boolean text(int choice, String delta);

        void done(int choice, Completion completion);

        void failed(int choice, RuntimeException error);

        boolean gone();
    }

    record Row(GenerationRequest request, int choice, Sink sink) {}

    private final TextGenerator generator;
    private final int maxBatch;
    private final int queueCapacity;
    private final long batchWaitNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Row> waiting = new ArrayDeque<>();
    private final Thread thread;
    private boolean closing;

    BatchScheduler(TextGenerator generator, int maxBatch, int queueCapacity, Duration batchWait) {
        this.generator = generator;
        this.maxBatch = maxBatch;
        this.queueCapacity = queueCapacity;
        this.batchWaitNanos = batchWait.toNanos();
        this.thread = Thread.ofPlatform().name("gpt4llm-batcher").daemon().start(this::loop);
    }

    /** Queues all of a request's rows, or none of them (503) when the queue lacks room or the server is closing. */
    void submit(List<Row> rows) {
        lock.lock();
        try {
            if (closing) throw ApiException.overloaded("the server is shutting down");
            if (waiting.size() + rows.size() > queueCapacity) {
                throw ApiException.overloaded("the request queue is full (" + waiting.size() + " of " + queueCapacity
                        + " completions waiting); retry later");
            }
            waiting.addAll(rows);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Rows waiting for a batch. */
    int waiting() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    /** Refuses new rows, decodes those already queued, and waits up to {@code timeout} for the thread to finish. */
    void close(Duration timeout) throws InterruptedException {
        lock.lock();
        try {
            closing = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (!thread.join(timeout)) {
            thread.interrupt();
            thread.join(Duration.ofSeconds(1));
        }
        // rows the thread never reached: their requests learn why
        lock.lock();
        try {
            for (Row r : waiting) r.sink().failed(r.choice(), ApiException.overloaded("the server shut down before decoding this request"));
            waiting.clear();
        } finally {
            lock.unlock();
        }
    }

    private void loop() {
        try {
            while (true) {
                List<Row> batch = nextBatch();
                if (batch == null) return;
                run(batch);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The next batch, or null once closing with nothing left. */
    private List<Row> nextBatch() throws InterruptedException {
        lock.lock();
        try {
            while (waiting.isEmpty()) {
                if (closing) return null;
                changed.await();
            }
            // the first row starts the clock: rows arriving within batchWait join it
            long left = batchWaitNanos;
            while (waiting.size() < maxBatch && !closing && left > 0) left = changed.awaitNanos(left);
            List<Row> batch = new ArrayList<>();
            while (batch.size() < maxBatch && !waiting.isEmpty()) batch.add(waiting.poll());
            return batch;
        } finally {
            lock.unlock();
        }
    }

    private void run(List<Row> batch) {
        List<Row> live = new ArrayList<>();
        for (Row r : batch) {
            // a client that left while its rows waited costs no decoding
            if (r.sink().gone()) r.sink().done(r.choice(), new Completion(new int[0], "", "cancelled", r.request().prompt().length));
            else live.add(r);
        }
        if (live.isEmpty()) return;
        List<GenerationRequest> requests = live.stream().map(Row::request).toList();
        TokenListener listener = (index, delta) -> {
            Row r = live.get(index);
            return r.sink().text(r.choice(), delta);
        };
        List<Completion> completions;
        try {
            completions = generator.generate(requests, listener);
            if (completions.size() != live.size()) {
                throw new IllegalStateException("the generator returned " + completions.size() + " completions for "
                        + live.size() + " requests");
            }
        } catch (RuntimeException | Error e) {
            // this batch's requests get a 500; the thread lives on for the next batch
            RuntimeException error = e instanceof RuntimeException re ? re : new IllegalStateException(e.toString(), e);
            for (Row r : live) r.sink().failed(r.choice(), error);
            return;
        }
        for (int i = 0; i < live.size(); i++) live.get(i).sink().done(live.get(i).choice(), completions.get(i));
    }
}
