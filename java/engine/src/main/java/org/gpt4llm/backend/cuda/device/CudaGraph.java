package org.gpt4llm.backend.cuda.device;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static org.gpt4llm.backend.cuda.device.CudaException.check;

import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import org.gpt4llm.backend.Backend;

/**
 * Work recorded from a {@link CudaDevice}'s stream by stream capture and instantiated as a CUDA
 * graph: {@link #launch()} replays all of it with one call, the kernels' arguments (pointers,
 * shapes, scalars) exactly as they were when captured.
 */
public final class CudaGraph implements Backend.Graph {
    private final CUstream stream;
    private final CUgraphExec exec;
    private final Runnable makeCurrent, onLaunch;
    private boolean closed;

    private CudaGraph(CUstream stream, CUgraphExec exec, Runnable makeCurrent, Runnable onLaunch) {
        this.stream = stream;
        this.exec = exec;
        this.makeCurrent = makeCurrent;
        this.onLaunch = onLaunch;
    }

    /**
     * Thread-local capture mode: only the capturing thread is barred from calls that would break
     * the capture (allocation, synchronisation), other threads may go on using CUDA.
     */
    static CudaGraph capture(CUstream stream, Runnable body, Runnable makeCurrent, Runnable onLaunch) {
        check(cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
        CUgraph graph = new CUgraph();
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            // end the capture so the stream is usable again; the partial graph is dropped
            if (cuStreamEndCapture(stream, graph) == CUresult.CUDA_SUCCESS) cuGraphDestroy(graph);
            throw e;
        }
        check(cuStreamEndCapture(stream, graph), "cuStreamEndCapture (a call made while capturing is not allowed in a graph)");
        CUgraphExec exec = new CUgraphExec();
        int r = cuGraphInstantiate(exec, graph, 0);
        cuGraphDestroy(graph);   // the executable graph is a copy; the template is not needed again
        check(r, "cuGraphInstantiate");
        return new CudaGraph(stream, exec, makeCurrent, onLaunch);
    }

    /** Queues the whole graph on the device's stream. */
    public void launch() {
        if (closed) throw new IllegalStateException("the CUDA graph is closed");
        makeCurrent.run();
        check(cuGraphLaunch(exec, stream), "cuGraphLaunch");
        onLaunch.run();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        makeCurrent.run();
        cuGraphExecDestroy(exec);
    }
}
