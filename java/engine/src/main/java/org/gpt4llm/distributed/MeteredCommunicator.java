package org.gpt4llm.distributed;

import org.gpt4llm.tensor.Tensor;

/**
 * A communicator that counts what its rank sends and how long it spends in collectives, for
 * {@code bench step --gpus}. Bytes are counted as a ring moves them (NCCL's algorithm for large
 * buffers): of B bytes, an all-reduce sends 2·(n-1)/n·B from each rank, a reduce-scatter or an
 * all-gather (n-1)/n·B of the whole buffer, a broadcast B from each rank but the last of the ring;
 * the same formulas give the planned bytes ({@link #allReduceBytes} and the rest). The time is the
 * wall time of each call, the wait for the other ranks included. Its {@link #companion} counts into
 * the same totals (bytes, calls and time, though that time may overlap the rank's work and its other
 * collectives), from the other thread of the rank that calls it.
 */
public final class MeteredCommunicator extends ForwardingCommunicator {
    /** Bytes, nanoseconds and calls, shared with the companion: the two are called from two threads. */
    private final long[] totals;
    private final MeteredCommunicator companion;

    public MeteredCommunicator(Communicator inner) {
        this(inner, new long[3], true);
    }

    private MeteredCommunicator(Communicator inner, long[] totals, boolean first) {
        super(inner);
        this.totals = totals;
        Communicator second = first ? inner.companion() : null;
        this.companion = second == null ? null : new MeteredCommunicator(second, totals, false);
    }

    /** Bytes each rank sends in an all-reduce of {@code bytes} over {@code ranks}. */
    public static long allReduceBytes(long bytes, int ranks) {
        return 2 * (ranks - 1) * bytes / ranks;
    }

    /** Bytes each rank sends in a reduce-scatter or an all-gather whose whole buffer holds {@code bytes}. */
    public static long gatherBytes(long bytes, int ranks) {
        return (ranks - 1) * bytes / ranks;
    }

    /** Bytes this rank sent since the last {@link #reset}. */
    public long bytesSent() {
        synchronized (totals) {
            return totals[0];
        }
    }

    /** Seconds this rank spent in collectives since the last {@link #reset}. */
    public double seconds() {
        synchronized (totals) {
            return totals[1] / 1e9;
        }
    }

    /** Collectives called since the last {@link #reset}. */
    public long calls() {
        synchronized (totals) {
            return totals[2];
        }
    }

    public void reset() {
        synchronized (totals) {
            java.util.Arrays.fill(totals, 0);
        }
    }

    private void count(long sent, long since) {
        long took = System.nanoTime() - since;
        synchronized (totals) {
            totals[0] += sent;
            totals[1] += took;
            totals[2]++;
        }
    }

    @Override
    public Communicator companion() {
        return companion;
    }

    @Override
    public void allReduce(Tensor buffer, ReduceOp op) {
        long t0 = System.nanoTime();
        inner.allReduce(buffer, op);
        count(allReduceBytes(buffer.byteSize(), size()), t0);
    }

    @Override
    public void reduceScatter(Tensor send, Tensor recv, ReduceOp op) {
        long t0 = System.nanoTime();
        inner.reduceScatter(send, recv, op);
        count(gatherBytes(send.byteSize(), size()), t0);
    }

    @Override
    public void allGather(Tensor send, Tensor recv) {
        long t0 = System.nanoTime();
        inner.allGather(send, recv);
        count(gatherBytes(recv.byteSize(), size()), t0);
    }

    @Override
    public void broadcast(Tensor buffer, int root) {
        long t0 = System.nanoTime();
        inner.broadcast(buffer, root);
        // a ring from the root: every rank but the one before the root passes the buffer on
        count(rank() == (root + size() - 1) % size() ? 0 : buffer.byteSize(), t0);
    }

    @Override
    public void barrier() {
        long t0 = System.nanoTime();
        inner.barrier();
        count(0, t0);
    }
}
