package org.gpt4llm.distributed;

import org.gpt4llm.tensor.Tensor;

/**
 * A communicator that passes every call to another, for wrappers that observe or change a few of them.
 * The companion is the one call it does not pass on: the inner one's companion would bypass the
 * wrapper, so each wrapper says what its own is.
 */
public abstract class ForwardingCommunicator implements Communicator {
    protected final Communicator inner;

    protected ForwardingCommunicator(Communicator inner) {
        this.inner = inner;
    }

    @Override
    public abstract Communicator companion();

    @Override
    public int rank() {
        return inner.rank();
    }

    @Override
    public int size() {
        return inner.size();
    }

    @Override
    public void allReduce(Tensor buffer, ReduceOp op) {
        inner.allReduce(buffer, op);
    }

    @Override
    public void reduceScatter(Tensor send, Tensor recv, ReduceOp op) {
        inner.reduceScatter(send, recv, op);
    }

    @Override
    public void allGather(Tensor send, Tensor recv) {
        inner.allGather(send, recv);
    }

    @Override
    public void broadcast(Tensor buffer, int root) {
        inner.broadcast(buffer, root);
    }

    @Override
    public void barrier() {
        inner.barrier();
    }

    @Override
    public void abort(Throwable cause) {
        inner.abort(cause);
    }

    @Override
    public void close() {
        inner.close();
    }
}
