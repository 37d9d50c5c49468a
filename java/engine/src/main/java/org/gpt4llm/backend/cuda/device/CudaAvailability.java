package org.gpt4llm.backend.cuda.device;

/**
 * Whether this machine can run the cuda backend, asked before any JCuda class is touched. JCuda's
 * JNI libraries are linked against {@value #DRIVER_LIBRARY} (the NVIDIA driver) and
 * {@value #CUBLAS_LIBRARY} (cuBLAS of CUDA 12, which JCublas2 12.6 is built for); where one is
 * missing, JCuda's first call fails with an UnsatisfiedLinkError and a page of diagnostics. The
 * dynamic linker is asked here instead ({@link CudaLibraries}), with the same search path
 * (LD_LIBRARY_PATH, the ldconfig cache) that JCuda's own loading will use.
 */
public final class CudaAvailability {
    public static final String DRIVER_LIBRARY = CudaLibraries.DRIVER;
    public static final String CUBLAS_LIBRARY = CudaLibraries.CUBLAS;

    /** What {@code --backend cuda} says on a machine without an NVIDIA driver. */
    public static final String NO_DRIVER = "the cuda backend needs an NVIDIA driver: " + DRIVER_LIBRARY
            + " cannot be loaded on this machine; use --backend cpu or cuda-emu";

    public static final String NO_CUBLAS = "the cuda backend needs cuBLAS of CUDA 12 (JCublas2 12.6 is linked against it): "
            + CUBLAS_LIBRARY + " cannot be loaded on this machine; install the CUDA 12 cuBLAS library (or pip's "
            + "nvidia-cublas-cu12 with its lib folder on LD_LIBRARY_PATH), or use --backend cuda-emu";

    private CudaAvailability() {}

    public static boolean driverPresent() {
        return CudaLibraries.canLoad(DRIVER_LIBRARY);
    }

    public static boolean cublasPresent() {
        return CudaLibraries.canLoad(CUBLAS_LIBRARY);
    }

    /** One line for {@code gpt4llm doctor}. */
    public static String driverStatus() {
        return driverPresent() ? "driver found (" + DRIVER_LIBRARY + ")"
                : "no NVIDIA driver: " + DRIVER_LIBRARY + " cannot be loaded on this machine";
    }

    public static String cublasStatus() {
        return cublasPresent() ? "cuBLAS 12 found (" + CUBLAS_LIBRARY + ")"
                : "no cuBLAS 12: " + CUBLAS_LIBRARY + " cannot be loaded on this machine";
    }

    /** Throws {@link CudaException} with {@link #NO_DRIVER} or {@link #NO_CUBLAS} unless both libraries load. */
    public static void require() {
        if (!driverPresent()) throw new CudaException(NO_DRIVER);
        if (!cublasPresent()) throw new CudaException(NO_CUBLAS);
    }
}
