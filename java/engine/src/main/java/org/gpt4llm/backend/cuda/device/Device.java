package org.gpt4llm.backend.cuda.device;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * What {@code CudaBackend} needs from a GPU: memory, copies, kernel launches by name, GEMM and
 * profiler ranges. Two implementations: {@code CudaDevice} (JCuda driver API + cuBLAS, a real GPU)
 * and {@code EmuDevice} (the same kernels compiled for the CPU emulation runtime, GEMM on OpenBLAS).
 *
 * <p>A device tensor is a {@link Tensor} whose segment's address is the device pointer; Java code
 * never reads or writes it directly, only through {@link #upload}/{@link #download}.
 */
public interface Device extends AutoCloseable {
    /** Stands for a C NULL pointer argument of a kernel. */
    MemorySegment NULL = MemorySegment.NULL;

    /** e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" or "CUDA emulation on the CPU". */
    String describe();

    /** Zero-filled device memory, freed when {@code arena} closes. */
    Tensor allocate(Arena arena, DType dtype, long... shape);

    /**
     * Device memory whose contents are undefined until written (cudaMalloc without the memset), freed
     * when {@code arena} closes: for scratch that every reader finds written first. The emulation's
     * sanitizer reports a kernel that reads it before anything wrote it.
     */
    Tensor allocateUninitialized(Arena arena, DType dtype, long... shape);

    /**
     * Zero-filled host memory for data copied to and from the device, freed when {@code arena} closes:
     * page-locked (cuMemHostAlloc) on a GPU; plain memory in the emulation, whose device memory is the host's.
     */
    default Tensor allocateHost(Arena arena, DType dtype, long... shape) {
        return Tensor.allocate(arena, dtype, shape);
    }

    /** Host to device: copies {@code dst.byteSize()} bytes from {@code host}. */
    void upload(Tensor dst, MemorySegment host);

    /** Device to host: copies {@code src.byteSize()} bytes into {@code host}. */
    void download(MemorySegment host, Tensor src);

    void copy(Tensor dst, Tensor src);

    void zero(Tensor t);

    /**
     * Launches kernel {@code name} of kernels/*.cu. Arguments map to kernel parameters in order:
     * {@link Tensor} or {@link MemorySegment} → pointer, {@link Integer} → int, {@link Long} → long long,
     * {@link Float} → float. Launches are asynchronous on a real GPU (in stream order).
     */
    void launch(String name, Dim3 grid, Dim3 block, int sharedBytes, Object... args);

    /**
     * Row-major {@code C[m,n] = alpha * op(A) op(B) + beta * C} with fp32 accumulation; A and B are
     * BF16 or F32 (the same), C is BF16 or F32; {@code lda/ldb/ldc} are row strides in elements.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, int lda, Tensor b,
              int ldb, float beta, Tensor c, int ldc);

    /** Waits for all queued work. */
    void synchronize();

    /** What this device has done so far: launches, synchronisations, allocations, copies (see {@link DeviceCounters}). */
    DeviceCounters counters();

    /**
     * Records the launches, GEMMs, copies and zero fills {@code body} queues from the calling thread,
     * without running them, as a graph that {@link Backend.Graph#launch()} replays with one call: every
     * argument (pointers, shapes, scalars) as it was when captured, so what changes between replays
     * must be read from device memory. While capturing, the calling thread may not allocate, upload,
     * download or synchronize (an {@link IllegalStateException} or a CUDA error naming the call).
     */
    Backend.Graph captureGraph(Runnable body);

    /** Opens a named range on the profiler timeline (NVTX on a GPU; a no-op where there is none). */
    void rangePush(String name);

    void rangePop();

    @Override
    void close();

    /** Grid or block dimensions of a launch. */
    record Dim3(int x, int y, int z) {
        public Dim3 {
            if (x < 1 || y < 1 || z < 1) throw new IllegalArgumentException("launch dimensions must be positive: " + x + "x" + y + "x" + z);
        }

        public static Dim3 of(int x) {
            return new Dim3(x, 1, 1);
        }

        public static Dim3 of(int x, int y) {
            return new Dim3(x, y, 1);
        }
    }
}
