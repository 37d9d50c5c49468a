package org.gpt4llm.backend.cuda.device;

import java.util.Locale;
import jcuda.driver.CUresult;
import jcuda.jcublas.cublasStatus;

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

    /** Throws unless a driver call returned CUDA_SUCCESS. */
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) throw new CudaException(call + " failed: " + CUresult.stringFor(result));
    }

    static void checkBlas(int status, String call) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) {
            throw new CudaException(call + " failed: " + cublasStatus.stringFor(status));
        }
    }

    /** 2.0 GiB, 12.5 MiB, 640.0 KiB or 12 bytes. */
    public static String size(long bytes) {
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        if (bytes >= 1L << 10) return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        return bytes + " bytes";
    }
}
