package org.gpt4llm.distributed;

import org.gpt4llm.tensor.Tensor;

/**
 * Collectives over the ranks of one training job, on tensors in each rank's own backend memory (F32 or
 * BF16). Every rank calls the same collectives in the same order with tensors of the same sizes; a call
 * returns when this rank's part is done and its output may be read. A sum is taken in rank order
 * (rank 0 + rank 1 + ...), so that a run gives the same bits every time it is repeated on the same ranks.
 *
 * <p>One thread of a rank calls a communicator; its {@link #companion} may be called from another at the same time.
 *
 * <p>A rank that fails or never arrives ends the others' waits with a {@link CommunicatorException}
 * naming it and the operation, never a hang.
 */
public interface Communicator extends AutoCloseable {
    /** How {@link #allReduce} and {@link #reduceScatter} combine the ranks' values. */
    enum ReduceOp {
        /** The sum over the ranks, in rank order. */
        SUM,
        /** The sum divided by the number of ranks. */
        AVG
    }

    /** This rank, 0 .. size-1. */
    int rank();

    /** The number of ranks. */
    int size();

    /** {@code buffer} = the reduction of every rank's {@code buffer}, in place. */
    void allReduce(Tensor buffer, ReduceOp op);

    /**
     * Rank r's {@code recv} = the reduction of elements [r·n, (r+1)·n) of every rank's {@code send},
     * where n is {@code recv}'s element count and {@code send} holds size·n elements.
     */
    void reduceScatter(Tensor send, Tensor recv, ReduceOp op);

    /** Elements [r·n, (r+1)·n) of every rank's {@code recv} = rank r's {@code send} (n elements; recv holds size·n). */
    void allGather(Tensor send, Tensor recv);

    /** Every rank's {@code buffer} = rank {@code root}'s. */
    void broadcast(Tensor buffer, int root);

    /** Returns once every rank has called it. */
    void barrier();

    /**
     * A second communicator over the same ranks whose collectives run beside this one's, called from another
     * thread of this rank (each communicator's collectives in the same order on every rank), as a second
     * stream's do on a GPU; null where there is none, and then every collective goes through this one.
     * {@link #abort} on either ends both.
     */
    default Communicator companion() {
        return null;
    }

    /**
     * Ends this rank's part in the job because of {@code cause}: every other rank's current or next
     * collective fails with a sentence naming this rank. Called by a rank that cannot go on.
     */
    void abort(Throwable cause);

    @Override
    void close();

    /** Checks that {@code big} holds {@code size} times the elements of {@code part}, with the same dtype. */
    static void requireParts(String op, Tensor big, Tensor part, int size) {
        if (big.dtype() != part.dtype()) {
            throw new IllegalArgumentException(op + ": the buffers differ in type, " + big + " and " + part);
        }
        if (big.numel() != (long) size * part.numel()) {
            throw new IllegalArgumentException(op + ": " + big + " does not hold " + size + " parts of " + part);
        }
    }
}
