package org.gpt4llm.distributed.nccl;

import static jcuda.driver.JCudaDriver.cuStreamQuery;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.tensor.Tensor;

/**
 * One rank of an NCCL communicator on one GPU. Each collective first drains the device's stream (its
 * inputs are then written), is queued on the context's default stream, and is waited for by polling that
 * stream together with NCCL's asynchronous error, up to the timeout: an error or a peer that never
 * arrives aborts the communicator ({@code ncclCommAbort}) and ends the wait with one sentence, never a
 * hang. A sum is NCCL's (its ring or tree order is fixed for a given topology and size).
 */
public final class NcclCommunicator implements Communicator {
    private final Nccl nccl;
    private final Device device;
    private final int rank, size;
    private final long timeoutNanos;
    private final MemorySegment comm;
    private boolean aborted;

    /**
     * Joins rank {@code rank} of {@code size} to the communicator named by {@code uniqueId} (from
     * {@link #uniqueId} on rank 0, handed to the others); blocks until every rank has joined. The
     * calling thread must be the one that drives {@code device}.
     */
    public NcclCommunicator(Nccl nccl, Device device, int rank, int size, byte[] uniqueId, Duration timeout) {
        if (uniqueId.length != Nccl.UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + Nccl.UNIQUE_ID_BYTES + " bytes, not " + uniqueId.length);
        }
        this.nccl = nccl;
        this.device = device;
        this.rank = rank;
        this.size = size;
        this.timeoutNanos = timeout.toNanos();
        device.synchronize(); // makes the device's context current on this thread
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            MemorySegment id = a.allocate(Nccl.UNIQUE_ID);
            MemorySegment.copy(uniqueId, 0, id, ValueLayout.JAVA_BYTE, 0, uniqueId.length);
            nccl.check((int) nccl.commInitRank.invokeExact(out, size, id, rank), "ncclCommInitRank of rank " + rank + " of " + size);
            this.comm = out.get(ValueLayout.ADDRESS, 0);
        } catch (CommunicatorException e) {
            throw e;
        } catch (Throwable t) {
            throw new CommunicatorException("ncclCommInitRank of rank " + rank + " failed: " + t, t);
        }
    }

    /**
     * Joins ranks {@code firstRank} .. {@code firstRank + devices.size() - 1} of {@code size}, one per
     * device, all at once (each {@code ncclCommInitRank} waits for the whole job); returns them in the
     * devices' order. A failure to join is thrown as it was.
     */
    public static List<Communicator> joinAll(Nccl nccl, List<Device> devices, int firstRank, int size, byte[] uniqueId,
                                             Duration timeout) {
        ExecutorService pool = Executors.newFixedThreadPool(devices.size());
        try {
            List<Future<Communicator>> joining = new ArrayList<>();
            for (int i = 0; i < devices.size(); i++) {
                Device d = devices.get(i);
                int rank = firstRank + i;
                joining.add(pool.submit(() -> new NcclCommunicator(nccl, d, rank, size, uniqueId, timeout)));
            }
            List<Communicator> comms = new ArrayList<>();
            for (Future<Communicator> f : joining) comms.add(f.get());
            return comms;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new CommunicatorException("joining the NCCL ranks failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommunicatorException("interrupted while the ranks joined", e);
        } finally {
            pool.shutdownNow();
        }
    }

    /** A new unique id (ncclGetUniqueId), made by rank 0 and handed to every other rank. */
    public static byte[] uniqueId(Nccl nccl) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(Nccl.UNIQUE_ID);
            nccl.check((int) nccl.getUniqueId.invokeExact(id), "ncclGetUniqueId");
            return id.toArray(ValueLayout.JAVA_BYTE);
        } catch (CommunicatorException e) {
            throw e;
        } catch (Throwable t) {
            throw new CommunicatorException("ncclGetUniqueId failed: " + t, t);
        }
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
        run("all-reduce", () -> (int) nccl.allReduce.invokeExact(buffer.data(), buffer.data(), buffer.numel(),
                Nccl.dataType(buffer.dtype()), redOp(op), comm, MemorySegment.NULL));
    }

    @Override
    public void reduceScatter(Tensor send, Tensor recv, ReduceOp op) {
        Communicator.requireParts("reduce-scatter", send, recv, size);
        run("reduce-scatter", () -> (int) nccl.reduceScatter.invokeExact(send.data(), recv.data(), recv.numel(),
                Nccl.dataType(recv.dtype()), redOp(op), comm, MemorySegment.NULL));
    }

    @Override
    public void allGather(Tensor send, Tensor recv) {
        Communicator.requireParts("all-gather", recv, send, size);
        run("all-gather", () -> (int) nccl.allGather.invokeExact(send.data(), recv.data(), send.numel(),
                Nccl.dataType(send.dtype()), comm, MemorySegment.NULL));
    }

    @Override
    public void broadcast(Tensor buffer, int root) {
        run("broadcast", () -> (int) nccl.broadcast.invokeExact(buffer.data(), buffer.data(), buffer.numel(),
                Nccl.dataType(buffer.dtype()), root, comm, MemorySegment.NULL));
    }

    @Override
    public void barrier() {
        // NCCL has no barrier: an all-reduce of one float is one
        try (Arena a = Arena.ofConfined()) {
            Tensor one = device.allocate(a, org.gpt4llm.tensor.DType.F32, 1);
            allReduce(one, ReduceOp.SUM);
        }
    }

    @Override
    public void abort(Throwable cause) {
        if (aborted) return;
        aborted = true;
        try {
            int ignored = (int) nccl.commAbort.invokeExact(comm);
        } catch (Throwable ignored) {
            // aborting is best effort: the sentence that follows says why the run ends
        }
    }

    @Override
    public void close() {
        if (aborted) return;
        aborted = true;
        try {
            int ignored = (int) nccl.commDestroy.invokeExact(comm);
        } catch (Throwable ignored) {
            // nothing left to release on a failed destroy
        }
    }

    static int redOp(ReduceOp op) {
        return op == ReduceOp.AVG ? Nccl.AVG : Nccl.SUM;
    }

    private interface Call {
        int invoke() throws Throwable;
    }

    /** Queues one collective after the device's work, then waits for it (or an error, or the timeout). */
    private void run(String op, Call call) {
        if (aborted) throw new CommunicatorException(op + " on rank " + rank + ": the NCCL communicator was aborted");
        device.synchronize();
        int result;
        try {
            result = call.invoke();
        } catch (Throwable t) {
            throw new CommunicatorException(op + " on rank " + rank + " failed: " + t, t);
        }
        if (result != Nccl.SUCCESS && result != Nccl.IN_PROGRESS) {
            abort(null);
            throw new CommunicatorException(op + " on rank " + rank + " failed: " + nccl.errorText(result));
        }
        long deadline = System.nanoTime() + timeoutNanos;
        CUstream defaultStream = new CUstream();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment asyncError = a.allocate(ValueLayout.JAVA_INT);
            while (true) {
                int q = cuStreamQuery(defaultStream);
                if (q == CUresult.CUDA_SUCCESS) return;
                if (q != CUresult.CUDA_ERROR_NOT_READY) {
                    abort(null);
                    throw new CommunicatorException(op + " on rank " + rank + " failed on the GPU: " + CUresult.stringFor(q));
                }
                int r = (int) nccl.commGetAsyncError.invokeExact(comm, asyncError);
                int err = asyncError.get(ValueLayout.JAVA_INT, 0);
                if (r == Nccl.SUCCESS && err != Nccl.SUCCESS && err != Nccl.IN_PROGRESS) {
                    abort(null);
                    throw new CommunicatorException(op + " on rank " + rank + " failed: " + nccl.errorText(err)
                            + " (a peer may have exited)");
                }
                if (System.nanoTime() > deadline) {
                    abort(null);
                    throw new CommunicatorException(String.format(java.util.Locale.ROOT,
                            "%s on rank %d did not complete within %.0f s: a peer never arrived or stopped", op, rank,
                            timeoutNanos / 1e9));
                }
                Thread.onSpinWait();
                Thread.sleep(0, 50_000);
            }
        } catch (CommunicatorException e) {
            throw e;
        } catch (InterruptedException e) {
            abort(null);
            Thread.currentThread().interrupt();
            throw new CommunicatorException(op + " on rank " + rank + " was interrupted", e);
        } catch (Throwable t) {
            throw new CommunicatorException(op + " on rank " + rank + " failed: " + t, t);
        }
    }
}
