package org.gpt4llm.backend.cuda;

/**
 * A machine that cannot run the cuda backend, or a CUDA driver / cuBLAS call that failed. The
 * message is one sentence that names the call and the CUDA error (e.g. "cuMemAlloc of 2.0 GiB
 * failed: CUDA_ERROR_OUT_OF_MEMORY (1.3 GiB free of 79.1 GiB)"), so the command line can print it
 * as it is.
 */
public final class CudaException extends IllegalStateException {
    public CudaException(String message) {
        super(message);
    }
}
