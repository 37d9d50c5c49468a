package org.gpt4llm.distributed;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Communicators for ranks that are threads of one process, each with its own backend (a CPU backend, an
 * emulated GPU, or a GPU): what lets {@code --gpus N} run the whole multi-device path without NCCL.
 * Each collective is an exchange of host copies: every rank deposits its values, waits until all have,
 * then computes its own output from all deposits in rank order (in fp32; a BF16 result is rounded once),
 * so every rank gets the same bits and a repeated run the same again.
 *
 * <p>A rank that calls {@link Communicator#abort} (its thread failed) or does not arrive within the
 * timeout ends every other rank's collective with a {@link CommunicatorException} naming it.
 */
public final class InProcessGroup {
    private final int size;
    private final long timeoutNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final float[][] deposits;
    private final String[] ops;
    private float[][] completed;
    private String completedOp;
    private long generation;
    private int arrived;
    private String failure;

    private InProcessGroup(int size, Duration timeout) {
        if (size < 1) throw new IllegalArgumentException("a group needs at least one rank, got " + size);
        this.size = size;
        this.timeoutNanos = timeout.toNanos();
        this.deposits = new float[size][];
        this.ops = new String[size];
    }

    /**
     * One communicator per backend: rank r moves its tensors through {@code backends.get(r)}. Each has a
     * {@link Communicator#companion} in a second group of the same ranks, so that a rank's second thread
     * can run collectives beside its first's.
     */
    public static List<Communicator> create(List<? extends Backend> backends, Duration timeout) {
        InProcessGroup main = new InProcessGroup(backends.size(), timeout), beside = new InProcessGroup(backends.size(), timeout);
        List<Communicator> out = new ArrayList<>();
        for (int r = 0; r < backends.size(); r++) {
            Rank first = main.new Rank(r, backends.get(r)), second = beside.new Rank(r, backends.get(r));
            first.partner = second;
            second.partner = first;
            first.primary = true;
            out.add(first);
        }
        return List.copyOf(out);
    }

    /** Deposits {@code mine} for collective {@code op} and returns every rank's deposit, once all are in. */
    private float[][] exchange(int rank, String op, float[] mine) {
        lock.lock();
        try {
            if (failure != null) throw new CommunicatorException(failure + ", so " + op + " on rank " + rank + " cannot complete");
            deposits[rank] = mine;
            ops[rank] = op;
            if (++arrived == size) {
                for (int r = 0; r < size; r++) {
                    if (!ops[r].equals(op)) {
                        failure = "rank " + r + " called " + ops[r] + " while rank " + rank + " called " + op;
                        changed.signalAll();
                        throw new CommunicatorException(failure);
                    }
                }
                completed = deposits.clone();
                completedOp = op;
                java.util.Arrays.fill(deposits, null);
                java.util.Arrays.fill(ops, null);
                arrived = 0;
                generation++;
                changed.signalAll();
                return completed;
            }
            long mineGeneration = generation, left = timeoutNanos;
            while (generation == mineGeneration && failure == null) {
                if (left <= 0) {
                    List<Integer> missing = new ArrayList<>();
                    for (int r = 0; r < size; r++) if (ops[r] == null) missing.add(r);
                    failure = String.format(Locale.ROOT, "%s on rank %d waited %.0f s for rank%s %s, which never arrived",
                            op, rank, timeoutNanos / 1e9, missing.size() == 1 ? "" : "s",
                            missing.stream().map(String::valueOf).reduce((a, b) -> a + ", " + b).orElse("?"));
                    changed.signalAll();
                    throw new CommunicatorException(failure);
                }
                try {
                    left = changed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CommunicatorException(op + " on rank " + rank + " was interrupted", e);
                }
            }
            if (generation == mineGeneration) {
                throw new CommunicatorException(failure + ", so " + op + " on rank " + rank + " cannot complete");
            }
            if (!completedOp.equals(op)) throw new IllegalStateException("a collective completed under another's name");
            return completed;
        } finally {
            lock.unlock();
        }
    }

    private void fail(int rank, Throwable cause) {
        lock.lock();
        try {
            if (failure == null) {
                String why = cause == null ? "it stopped" : cause.getClass().getSimpleName()
                        + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
                failure = "rank " + rank + " failed (" + why + ")";
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private final class Rank implements Communicator {
        private final int rank;
        private final Backend backend;
        /** The same rank in the other group of the pair, which {@link #abort} ends too. */
        private Rank partner;
        /** Whether this is the rank's first communicator, whose companion is {@link #partner}. */
        private boolean primary;

        Rank(int rank, Backend backend) {
            this.rank = rank;
            this.backend = backend;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public void allReduce(Tensor buffer, ReduceOp op) {
            float[][] all = exchange(rank, "all-reduce", backend.download(buffer));
            put(buffer, reduce(all, 0, all[0].length, op));
        }

        @Override
        public void reduceScatter(Tensor send, Tensor recv, ReduceOp op) {
            Communicator.requireParts("reduce-scatter", send, recv, size);
            float[][] all = exchange(rank, "reduce-scatter", backend.download(send));
            int n = (int) recv.numel();
            put(recv, reduce(all, rank * n, n, op));
        }

        @Override
        public void allGather(Tensor send, Tensor recv) {
            Communicator.requireParts("all-gather", recv, send, size);
            float[][] all = exchange(rank, "all-gather", backend.download(send));
            int n = (int) send.numel();
            float[] out = new float[n * size];
            for (int r = 0; r < size; r++) System.arraycopy(all[r], 0, out, r * n, n);
            put(recv, out);
        }

        @Override
        public void broadcast(Tensor buffer, int root) {
            if (root < 0 || root >= size) throw new IllegalArgumentException("broadcast from rank " + root + " of " + size);
            float[][] all = exchange(rank, "broadcast", rank == root ? backend.download(buffer) : new float[0]);
            if (rank != root) put(buffer, all[root]);
        }

        @Override
        public void barrier() {
            exchange(rank, "barrier", new float[0]);
        }

        @Override
        public Communicator companion() {
            return primary ? partner : null;
        }

        @Override
        public void abort(Throwable cause) {
            fail(rank, cause);
            if (partner != null) partner.failHere(cause);
        }

        private void failHere(Throwable cause) {
            fail(rank, cause);
        }

        @Override
        public void close() {}

        /** Elements [from, from+n) of every rank's values, reduced in rank order in fp32. */
        private float[] reduce(float[][] all, int from, int n, ReduceOp op) {
            float[] out = new float[n];
            System.arraycopy(all[0], from, out, 0, n);
            for (int r = 1; r < size; r++) {
                float[] x = all[r];
                for (int i = 0; i < n; i++) out[i] += x[from + i];
            }
            if (op == ReduceOp.AVG) for (int i = 0; i < n; i++) out[i] /= size;
            return out;
        }

        private void put(Tensor dst, float[] values) {
            if (dst.numel() == 0) return;
            try (Arena a = Arena.ofConfined()) {
                Tensor host = Tensor.of(a, values, values.length);
                if (dst.dtype() == DType.F32 || dst.dtype() == DType.BF16) backend.upload(dst, host);
                else throw new IllegalArgumentException("collectives move F32 or BF16 tensors, not " + dst);
            }
        }
    }
}
