package org.gpt4llm.backend.cuda.device;

import static jcuda.driver.JCudaDriver.*;
import static jcuda.jcublas.JCublas2.cublasCreate;
import static jcuda.jcublas.JCublas2.cublasDestroy;
import static jcuda.jcublas.JCublas2.cublasGemmEx_new;
import static jcuda.jcublas.JCublas2.cublasSetStream;
import static jcuda.jcublas.JCublas2.cublasSetWorkspace;
import static org.gpt4llm.backend.cuda.device.CudaException.check;
import static org.gpt4llm.backend.cuda.device.CudaException.checkBlas;
import static org.gpt4llm.backend.cuda.device.CudaException.size;
import static org.gpt4llm.backend.cuda.device.JCudaArgs.hostPtr;
import static org.gpt4llm.backend.cuda.device.JCudaArgs.ptr;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import jcuda.Pointer;
import jcuda.cudaDataType;
import jcuda.driver.*;
import jcuda.jcublas.*;
import jcuda.runtime.cudaStream_t;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cuda.device.CudaReleases.Version;
import org.gpt4llm.nativelib.NativeLibraries;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * A real GPU through JCuda's driver API and JCublas2: one primary context, one non-blocking
 * stream that every copy, launch and GEMM is queued on (so they run in program order), the
 * project's fatbin (kernels/*.cu as sm_80 and sm_90 cubins + compute_80 PTX of ISA 8.2) as the
 * module. Before the driver is handed the fatbin, what it needs ({@link Fatbin}: the PTX ISA, hence
 * the driver; the architectures, hence the GPU) is checked against the driver and the GPU, so that a
 * driver or GPU too old for it is refused with one sentence instead of a CUDA error code.
 *
 * <p>Device memory is a {@link MemorySegment} whose address is the device pointer and whose size is
 * the allocation's, freed by a cleanup action of the owning arena; it is never dereferenced in Java.
 * Close the arenas holding device tensors before the device: memory of a closed device is left to
 * the context's teardown. Every CUDA error becomes a {@link CudaException} naming the call.
 *
 * <p>Any thread may call in: the context is made current on a thread the first time it uses this
 * device. Calls are not synchronised with each other; one thread at a time drives a device.
 */
public final class CudaDevice implements Device {
    /** The kernels of kernels/*.cu, compiled by nvcc when the project was built with it. */
    public static final String FATBIN = "gpt4llm.fatbin";
    /** cuBLAS's workspace, given up front so that GEMMs captured into a CUDA graph allocate nothing. */
    private static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
    /** Dynamic shared memory a kernel gets without opting in (cuFuncSetAttribute) for more. */
    private static final int DEFAULT_DYNAMIC_SMEM = 48 << 10;
    /** The device whose context each thread last made current. */
    private static final ThreadLocal<CudaDevice> CURRENT = new ThreadLocal<>();
    /** Whether the fall back to the PTX alone has been reported (once per JVM, not per device). */
    private static final AtomicBoolean PTX_FALLBACK_REPORTED = new AtomicBoolean();

    private final int ordinal;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final CUmodule module = new CUmodule();
    private final cublasHandle blas = new cublasHandle();
    private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();
    private final DeviceCounting counting = new DeviceCounting();
    /** The thread whose stream work is being captured into a graph (and so not counted as run), or null. */
    private volatile Thread capturing;
    private boolean contextRetained, streamCreated, moduleLoaded, blasCreated;
    private long workspace;
    private int ccMajor, ccMinor;
    private Version driverCuda;
    private String description;
    private String kernelImage;
    private volatile boolean closed;

    /** A kernel of the module and the dynamic shared memory it has been allowed so far. */
    private static final class Kernel {
        final CUfunction function = new CUfunction();
        int smemLimit = DEFAULT_DYNAMIC_SMEM;
    }

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
    }

    /**
     * Opens GPU {@code ordinal}. Fails with one sentence where there is no NVIDIA driver or cuBLAS 12
     * ({@link CudaAvailability}), no fatbin in this build, no such GPU, or a GPU or driver too old for
     * the fatbin's kernels.
     */
    public static CudaDevice open(int ordinal) {
        CudaAvailability.require();
        Fatbin kernels = kernels();
        CudaDevice d = new CudaDevice(ordinal);
        try {
            d.init(kernels);
            return d;
        } catch (RuntimeException | Error e) {
            d.close();
            throw e;
        }
    }

    /** This build's fatbin, read and parsed (no driver needed); fails with one sentence where there is none. */
    public static Fatbin kernels() {
        java.nio.file.Path file;
        try {
            file = NativeLibraries.locate(FATBIN);
        } catch (NativeLibraries.NativeLibraryException e) {
            throw new CudaException("the cuda backend needs the kernels compiled by nvcc, but this build has no native/"
                    + NativeLibraries.PLATFORM + "/" + FATBIN + " (nvcc was not found when it was built); rebuild with "
                    + "nvcc on the PATH (mvn -DskipTests package) or use --backend cuda-emu");
        }
        try {
            return Fatbin.read(Files.readAllBytes(file), FATBIN);
        } catch (IOException e) {
            throw new CudaException("cannot read " + file + ": " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new CudaException(e.getMessage() + "; rebuild it (mvn -DskipTests package)");
        }
    }

    private void init(Fatbin kernels) {
        int r = cuInit(0);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaException("the NVIDIA driver is installed but offers no usable GPU: cuInit failed with "
                    + CUresult.stringFor(r) + "; use --backend cpu or cuda-emu");
        }
        int[] version = new int[1];
        check(cuDriverGetVersion(version), "cuDriverGetVersion");
        driverCuda = Version.ofDriver(version[0]);
        int[] count = new int[1];
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count[0]) {
            throw new CudaException("there is no CUDA device " + ordinal + ": this machine has " + count[0]
                    + (count[0] == 1 ? " GPU (device 0)" : " GPUs (devices 0 to " + (count[0] - 1) + ")"));
        }
        check(cuDeviceGet(device, ordinal), "cuDeviceGet");
        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, device), "cuDeviceGetName");
        ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        long[] total = new long[1];
        check(cuDeviceTotalMem(total, device), "cuDeviceTotalMem");
        String gpu = new String(name, StandardCharsets.UTF_8).trim().replace("\0", "");
        description = String.format(Locale.ROOT, "%s (sm_%d%d, %s)", gpu, ccMajor, ccMinor, size(total[0]));
        Optional<String> refusal = kernels.refusal(driverCuda, ccMajor, ccMinor, "device " + ordinal + " is " + description);
        if (refusal.isPresent()) throw new CudaException(refusal.get());
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        contextRetained = true;
        current();
        check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        streamCreated = true;
        loadModule(kernels);
        checkBlas(cublasCreate(blas), "cublasCreate");
        blasCreated = true;
        checkBlas(cublasSetStream(blas, new cudaStream_t(stream)), "cublasSetStream");
        workspace = malloc(CUBLAS_WORKSPACE_BYTES);
        checkBlas(cublasSetWorkspace(blas, ptr(workspace), CUBLAS_WORKSPACE_BYTES), "cublasSetWorkspace");
    }

    /**
     * The driver picks the cubin for this GPU, or JIT-compiles the PTX for a newer one. A driver
     * older than the toolkit that wrote the cubins may refuse the whole fatbin (CUDA 13's ptxas
     * writes an ELF ABI that drivers before R570 predate) although it can JIT the PTX, whose ISA
     * the build kept at 8.2: then the PTX alone is loaded.
     */
    private void loadModule(Fatbin kernels) {
        String where = FATBIN + " on " + description + " with a driver for CUDA " + driverCuda;
        int whole = cuModuleLoadData(module, kernels.bytes());
        if (whole == CUresult.CUDA_SUCCESS) {
            moduleLoaded = true;
            kernelImage = kernels.cubinFor(ccMajor, ccMinor).map(c -> c.archName() + " cubin")
                    .orElseGet(() -> kernels.ptx().orElseThrow().archName() + " PTX, JIT-compiled by the driver");
            return;
        }
        Optional<byte[]> ptx = kernels.ptxFallback(driverCuda, ccMajor, ccMinor);
        if (ptx.isEmpty()) check(whole, "cuModuleLoadData of " + where);
        String ptxName = kernels.ptx().orElseThrow().archName() + " PTX (ISA " + kernels.ptxIsa().orElseThrow() + ")";
        if (PTX_FALLBACK_REPORTED.compareAndSet(false, true)) {
            System.err.println("gpt4llm: the NVIDIA driver (CUDA " + driverCuda + ") refused " + FATBIN + " as a whole ("
                    + CUresult.stringFor(whole) + "), likely for its cubins' newer ELF ABI; loading its " + ptxName
                    + " alone, which the driver JIT-compiles (a slower first start)");
        }
        check(cuModuleLoadData(module, ptx.get()), "cuModuleLoadData of the " + ptxName + " of " + where
                + " (after the whole fatbin failed with " + CUresult.stringFor(whole) + ")");
        moduleLoaded = true;
        kernelImage = ptxName + " alone, JIT-compiled by the driver (it refused the cubins: " + CUresult.stringFor(whole) + ")";
    }

    private int attribute(int which) {
        int[] v = new int[1];
        check(cuDeviceGetAttribute(v, which, device), "cuDeviceGetAttribute");
        return v[0];
    }

    @Override
    public String describe() {
        return description;
    }

    public int ordinal() {
        return ordinal;
    }

    /** Which image of the fatbin the driver runs: "sm_90 cubin", or the PTX and why. */
    public String kernelImage() {
        return kernelImage;
    }

    /** The CUDA release the driver supports (cuDriverGetVersion). */
    public Version driverCuda() {
        return driverCuda;
    }

    /** Compute capability as major*10 + minor, e.g. 90 for an H100. */
    public int computeCapability() {
        return ccMajor * 10 + ccMinor;
    }

    // ---- memory ---------------------------------------------------------------------------

    @Override
    public Tensor allocate(Arena arena, DType dtype, long... shape) {
        return allocate(arena, dtype, shape, true);
    }

    @Override
    public Tensor allocateUninitialized(Arena arena, DType dtype, long... shape) {
        return allocate(arena, dtype, shape, false);
    }

    private Tensor allocate(Arena arena, DType dtype, long[] shape, boolean zeroed) {
        long bytes = Tensor.numel(shape) * dtype.bytes();
        if (bytes == 0) return Tensor.wrap(MemorySegment.NULL, dtype, shape);
        refuseWhileCapturing("allocate");
        current();
        long address = malloc(bytes);
        counting.allocation();
        try {
            if (zeroed) check(cuMemsetD8Async(ptr(address), (byte) 0, bytes, stream), "cuMemsetD8Async of " + size(bytes));
            MemorySegment seg = MemorySegment.ofAddress(address).reinterpret(bytes, arena, s -> free(address));
            return Tensor.wrap(seg, dtype, shape);
        } catch (RuntimeException e) {
            free(address);   // e.g. the arena was already closed
            throw e;
        }
    }

    /** Page-locked host memory (cuMemHostAlloc), zero-filled; freed with cuMemFreeHost when {@code arena} closes. */
    @Override
    public Tensor allocateHost(Arena arena, DType dtype, long... shape) {
        long bytes = Tensor.numel(shape) * dtype.bytes();
        if (bytes == 0) return Tensor.allocate(arena, dtype, shape);
        refuseWhileCapturing("allocateHost");
        current();
        JCudaArgs.HostAllocation a = new JCudaArgs.HostAllocation();
        check(cuMemHostAlloc(a, bytes, 0), "cuMemHostAlloc of " + size(bytes));
        long address = a.address();
        try {
            MemorySegment seg = MemorySegment.ofAddress(address).reinterpret(bytes, arena, s -> freeHost(address));
            seg.fill((byte) 0);
            return Tensor.wrap(seg, dtype, shape);
        } catch (RuntimeException e) {
            freeHost(address);
            throw e;
        }
    }

    /** A cleanup action, as {@link #free}: copies still queued may read the memory, so the stream is drained first. */
    private void freeHost(long address) {
        if (closed) return;
        current();
        cuStreamSynchronize(stream);
        cuMemFreeHost(new Pointer().withByteOffset(address));
    }

    private long malloc(long bytes) {
        JCudaArgs.Allocation a = new JCudaArgs.Allocation();
        int r = cuMemAlloc(a, bytes);
        if (r != CUresult.CUDA_SUCCESS) {
            long[] free = new long[1], total = new long[1];
            String left = cuMemGetInfo(free, total) == CUresult.CUDA_SUCCESS
                    ? " (" + size(free[0]) + " free of " + size(total[0]) + ")" : "";
            throw new CudaException("cuMemAlloc of " + size(bytes) + " failed: " + CUresult.stringFor(r) + left);
        }
        return a.address();
    }

    /**
     * Runs as a cleanup action while an arena closes, so it reports nothing: kernels still queued
     * may read the memory, hence the stream is drained first; on a closed device the memory went
     * with the context.
     */
    private void free(long address) {
        if (closed) return;
        current();
        counting.free();
        cuStreamSynchronize(stream);
        cuMemFree(ptr(address));
    }

    /**
     * Host memory is pageable, so the copy returns once the bytes are staged by the driver and
     * {@code host} may be reused at once; heap segments are first copied off-heap.
     */
    @Override
    public void upload(Tensor dst, MemorySegment host) {
        long bytes = dst.byteSize();
        requireHost("upload", host, bytes, dst);
        if (bytes == 0) return;
        refuseWhileCapturing("upload");
        current();
        counting.upload(bytes);
        if (host.isNative()) {
            check(cuMemcpyHtoDAsync(ptr(dst), hostPtr(host), bytes, stream), "cuMemcpyHtoDAsync of " + size(bytes));
            return;
        }
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment s = staging.allocate(bytes, 64);
            MemorySegment.copy(host, 0, s, 0, bytes);
            check(cuMemcpyHtoDAsync(ptr(dst), hostPtr(s), bytes, stream), "cuMemcpyHtoDAsync of " + size(bytes));
            counting.synchronization();
            drain();
        }
    }

    /** Waits for the work queued before it, then copies. */
    @Override
    public void download(MemorySegment host, Tensor src) {
        long bytes = src.byteSize();
        requireHost("download", host, bytes, src);
        if (bytes == 0) return;
        refuseWhileCapturing("download");
        current();
        counting.download(bytes);
        if (host.isNative()) {
            check(cuMemcpyDtoHAsync(hostPtr(host), ptr(src), bytes, stream), "cuMemcpyDtoHAsync of " + size(bytes));
            drain();
            return;
        }
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment s = staging.allocate(bytes, 64);
            check(cuMemcpyDtoHAsync(hostPtr(s), ptr(src), bytes, stream), "cuMemcpyDtoHAsync of " + size(bytes));
            drain();
            MemorySegment.copy(s, 0, host, 0, bytes);
        }
    }

    private static void requireHost(String what, MemorySegment host, long bytes, Tensor t) {
        if (host.byteSize() < bytes) {
            throw new IllegalArgumentException(what + " of " + t + " needs " + bytes + " bytes of host memory, got " + host.byteSize());
        }
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        if (dst.dtype() != src.dtype() || dst.numel() != src.numel()) {
            throw new IllegalArgumentException("copy of " + src + " into " + dst);
        }
        if (dst.byteSize() == 0) return;
        current();
        if (!capturing()) counting.copy();
        check(cuMemcpyDtoDAsync(ptr(dst), ptr(src), dst.byteSize(), stream), "cuMemcpyDtoDAsync of " + size(dst.byteSize()));
    }

    @Override
    public void zero(Tensor t) {
        if (t.byteSize() == 0) return;
        current();
        if (!capturing()) counting.memset();
        check(cuMemsetD8Async(ptr(t), (byte) 0, t.byteSize(), stream), "cuMemsetD8Async of " + size(t.byteSize()));
    }

    // ---- kernels and GEMM ------------------------------------------------------------------

    @Override
    public void launch(String name, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        current();
        Kernel k = kernel(name, sharedBytes);
        if (!capturing()) counting.launch();
        check(cuLaunchKernel(k.function, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes,
                stream, JCudaArgs.kernelParams(name, args), null),
                "cuLaunchKernel of " + name + " (grid " + dims(grid) + ", block " + dims(block) + ", " + sharedBytes + " B shared)");
    }

    private Kernel kernel(String name, int sharedBytes) {
        Kernel k = kernels.computeIfAbsent(name, n -> {
            Kernel fresh = new Kernel();
            int r = cuModuleGetFunction(fresh.function, module, n);
            if (r == CUresult.CUDA_ERROR_NOT_FOUND) {
                throw new CudaException("kernel " + n + " is not in " + FATBIN + ": no kernels/*.cu of this build defines it");
            }
            check(r, "cuModuleGetFunction of " + n);
            return fresh;
        });
        if (sharedBytes > k.smemLimit) {
            // more than 48 KiB of dynamic shared memory is opt-in per kernel
            check(cuFuncSetAttribute(k.function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes),
                    "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES = " + sharedBytes + ") of " + name);
            k.smemLimit = sharedBytes;
        }
        return k;
    }

    /**
     * cuBLAS is column-major and a row-major matrix X with row stride ld is, read column-major, Xᵀ
     * with leading dimension ld. So the row-major {@code C = op(A)·op(B)} is computed as the
     * column-major {@code Cᵀ = op(B)ᵀ·op(A)ᵀ}: B and A swap places (and m and n), and each keeps its
     * own transpose flag, since the stored Bᵀ is already "op(B)ᵀ" exactly when B is not transposed.
     */
    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, int lda, Tensor b,
                     int ldb, float beta, Tensor c, int ldc) {
        if (a.dtype() != b.dtype() || (a.dtype() != DType.BF16 && a.dtype() != DType.F32)
                || (c.dtype() != DType.BF16 && c.dtype() != DType.F32) || (a.dtype() == DType.F32 && c.dtype() != DType.F32)) {
            throw new IllegalArgumentException("gemm takes A and B both BF16 (C BF16 or F32) or both F32 (C F32), got "
                    + a.dtype() + ", " + b.dtype() + ", " + c.dtype());
        }
        checkMatrix("A", a, transA ? k : m, transA ? m : k, lda);
        checkMatrix("B", b, transB ? n : k, transB ? k : n, ldb);
        checkMatrix("C", c, m, n, ldc);
        if (m == 0 || n == 0) return;
        current();
        if (!capturing()) counting.gemm();
        // JCublas2's cublasGemmEx takes the pre-CUDA-11 compute type (a cudaDataType) and maps it;
        // cublasGemmEx_new passes a cublasComputeType through as it is
        checkBlas(cublasGemmEx_new(blas,
                transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                n, m, k, Pointer.to(new float[] {alpha}),
                ptr(b), dataType(b), ldb, ptr(a), dataType(a), lda, Pointer.to(new float[] {beta}),
                ptr(c), dataType(c), ldc,
                // fp32 accumulation; the default algorithm picks tensor-core kernels for bf16 (the
                // separate *_TENSOR_OP choices are deprecated since CUDA 11)
                cublasComputeType.CUBLAS_COMPUTE_32F, cublasGemmAlgo.CUBLAS_GEMM_DEFAULT),
                String.format(Locale.ROOT, "cublasGemmEx %s%s %dx%dx%d (%s, %s -> %s)", transA ? "T" : "N", transB ? "T" : "N",
                        m, n, k, a.dtype(), b.dtype(), c.dtype()));
    }

    /** A row-major rows x cols matrix with row stride ld must fit in t (cuBLAS would read past it silently). */
    private static void checkMatrix(String what, Tensor t, long rows, long cols, long ld) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("gemm: ld" + what.toLowerCase(Locale.ROOT) + " = " + ld + " is less than the "
                    + cols + " columns of " + what);
        }
        if (rows > 0 && cols > 0 && (rows - 1) * ld + cols > t.numel()) {
            throw new IllegalArgumentException("gemm: " + what + " as " + rows + "x" + cols + " with row stride " + ld
                    + " does not fit in " + t);
        }
    }

    private static int dataType(Tensor t) {
        return t.dtype() == DType.BF16 ? cudaDataType.CUDA_R_16BF : cudaDataType.CUDA_R_32F;
    }

    @Override
    public void synchronize() {
        refuseWhileCapturing("synchronize");
        current();
        counting.synchronization();
        drain();
    }

    /** Waits for the stream; the caller has counted why. */
    private void drain() {
        check(cuStreamSynchronize(stream), "cuStreamSynchronize (an earlier launch or copy failed)");
    }

    @Override
    public DeviceCounters counters() {
        return counting.snapshot();
    }

    private boolean capturing() {
        return capturing == Thread.currentThread();
    }

    /** What would invalidate a stream capture, refused with one sentence before CUDA fails it with an error code. */
    private void refuseWhileCapturing(String what) {
        if (capturing()) {
            throw new IllegalStateException(what + " while a graph is being captured: a captured step may only queue "
                    + "kernels, GEMMs, device copies and zero fills");
        }
    }

    @Override
    public void rangePush(String name) {
        Nvtx.push(name);
    }

    @Override
    public void rangePop() {
        Nvtx.pop();
    }

    /** GPU time of the work {@code body} queues, in milliseconds, measured by two CUDA events on the stream. */
    public float timeMillis(Runnable body) {
        current();
        CUevent start = new CUevent(), stop = new CUevent();
        check(cuEventCreate(start, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        try {
            check(cuEventCreate(stop, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            try {
                check(cuEventRecord(start, stream), "cuEventRecord");
                body.run();
                check(cuEventRecord(stop, stream), "cuEventRecord");
                check(cuEventSynchronize(stop), "cuEventSynchronize (a launch of the timed work failed)");
                float[] ms = new float[1];
                check(cuEventElapsedTime(ms, start, stop), "cuEventElapsedTime");
                return ms[0];
            } finally {
                cuEventDestroy(stop);
            }
        } finally {
            cuEventDestroy(start);
        }
    }

    /**
     * Records the launches, copies and GEMMs {@code body} queues into a CUDA graph, for replay with
     * one launch. While capturing, the calling thread may only queue work: allocate, upload,
     * download and synchronize are refused ({@link IllegalStateException}); what else would break the
     * capture fails with a CUDA error naming the call. Kernels and cuBLAS handles must have been used
     * once before (a warm-up), so that loading a function or sizing a workspace does not happen here.
     */
    @Override
    public CudaGraph captureGraph(Runnable body) {
        current();
        synchronized (this) {
            if (capturing != null) throw new IllegalStateException("a graph is already being captured on " + description);
            capturing = Thread.currentThread();
        }
        try {
            return CudaGraph.capture(stream, body, this::current, counting::graphLaunch);
        } finally {
            capturing = null;
        }
    }

    /** Releases the module, stream, cuBLAS handle and context; errors are not reported, the work is over. */
    @Override
    public synchronized void close() {
        if (closed) return;
        if (contextRetained && cuCtxSetCurrent(context) == CUresult.CUDA_SUCCESS) {
            if (streamCreated) cuStreamSynchronize(stream);
            if (workspace != 0) cuMemFree(ptr(workspace));
            if (blasCreated) cublasDestroy(blas);
            if (moduleLoaded) cuModuleUnload(module);
            if (streamCreated) cuStreamDestroy(stream);
        }
        if (contextRetained) cuDevicePrimaryCtxRelease(device);
        closed = true;
        CURRENT.remove();
    }

    // ---- helpers ----------------------------------------------------------------------------

    /** Makes this device's context current on the calling thread (once per thread). */
    private void current() {
        if (closed) throw new IllegalStateException("the CUDA device " + description + " is closed");
        if (CURRENT.get() != this) {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            CURRENT.set(this);
        }
    }

    private static String dims(Dim3 d) {
        return d.x() + "x" + d.y() + "x" + d.z();
    }

}
