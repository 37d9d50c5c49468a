package org.gpt4llm.backend.cuda.device;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.gpt4llm.nativelib.NativeLibraries;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * A {@link Device} that runs the kernels of {@code kernels/*.cu} compiled for the CPU against the
 * CUDA emulation runtime ({@code libgpt4llm_emu.so}, see {@code native/emu/cuda_emu.h}): device
 * memory is host memory handed out by the runtime, a launch runs its blocks on a pool of worker
 * threads (as many as this device was given) with each block's threads as fibers, and GEMM runs on
 * OpenBLAS. Exact about what the GPU path does: launch geometry, argument marshalling and kernel
 * logic.
 *
 * <p>The runtime's sanitizer checks every kernel's memory accesses (out of bounds, reads of
 * never-written memory, shared-memory races) and ends a launch that breaks the rules with an
 * error; it is on unless the system property {@value #SANITIZER_PROPERTY} is {@code false}.
 * Memory from {@link #allocate} counts as written (it is zero-filled, as the {@link Device}
 * contract says); memory from {@link #allocateUninitialized} does not until something writes it:
 * an upload, a copy of written memory, {@link #zero}, a kernel's store or a GEMM's output.
 *
 * <p>Launches are synchronous and serialised (one at a time in the process), so
 * {@link #synchronize()} has nothing to wait for; the copy stream's work is done when it is queued,
 * so its events are complete when recorded, though the events and waits are counted as on a GPU. Work is counted as on a GPU ({@link #counters()}),
 * and a graph is captured as CUDA captures one ({@link #captureGraph}): the work is recorded with its
 * argument values, not run, and each replay runs it again with those same values, on this device's
 * workers and under the sanitizer, from whichever thread launches the graph.
 */
public final class EmuDevice implements Device {
    public static final String LIBRARY = "libgpt4llm_emu.so";
    /** {@code -Dgpt4llm.emu.sanitizer=false} turns the emulation's sanitizer off. */
    public static final String SANITIZER_PROPERTY = "gpt4llm.emu.sanitizer";

    private static final SymbolLookup LIB = NativeLibraries.open(NativeLibraries.locate(LIBRARY));
    private static final MethodHandle LAST_ERROR = NativeLibraries.function(LIB, LIBRARY, "g4emu_last_error",
            FunctionDescriptor.of(ADDRESS));
    private static final MethodHandle WORKER_THREADS = NativeLibraries.function(LIB, LIBRARY,
            "g4emu_worker_threads", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle CONFIGURE = NativeLibraries.function(LIB, LIBRARY, "g4emu_configure",
            FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT));
    private static final MethodHandle ALLOC = NativeLibraries.function(LIB, LIBRARY, "g4emu_alloc",
            FunctionDescriptor.of(ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FREE = NativeLibraries.function(LIB, LIBRARY, "g4emu_free",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle MARK_WRITTEN = NativeLibraries.function(LIB, LIBRARY, "g4emu_mark_written",
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG));
    private static final MethodHandle COPY_WRITTEN = NativeLibraries.function(LIB, LIBRARY, "g4emu_copy_written",
            FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle FIRST_UNWRITTEN = NativeLibraries.function(LIB, LIBRARY,
            "g4emu_first_unwritten", FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG));
    private static final MethodHandle BYTES_IN_USE = NativeLibraries.function(LIB, LIBRARY, "g4emu_bytes_in_use",
            FunctionDescriptor.of(JAVA_LONG));
    private static final MethodHandle INSTRUMENTED = NativeLibraries.function(LIB, LIBRARY, "g4emu_instrumented",
            FunctionDescriptor.of(JAVA_INT));
    /** On unless turned off, and where the library's kernels were built with the instrumentation (CMake's G4_EMU_SANITIZER). */
    private static final boolean SANITIZER = !"false".equalsIgnoreCase(System.getProperty(SANITIZER_PROPERTY)) && instrumented();
    private static final FunctionDescriptor LAUNCH = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS);
    private static final FunctionDescriptor PARAMS = FunctionDescriptor.of(ADDRESS);
    /** Guards a launch and the read of its error, which the runtime keeps per process. */
    private static final ReentrantLock LAUNCH_LOCK = new ReentrantLock();

    /** A kernel's launch entry and its parameter letters (p pointer, i int, l long long, f float). */
    private record Kernel(MethodHandle launch, String params) {}

    /** The worker count the runtime was last configured with (guarded by LAUNCH_LOCK). */
    private static int configuredWorkers;

    private final ConcurrentHashMap<String, Kernel> kernels = new ConcurrentHashMap<>();
    private final int workers;
    private int rangeDepth;
    /** The ranges pushed ("+name") and popped ("-name") since {@link #recordRanges}, or null when not recording. */
    private java.util.List<String> rangeLog;
    private final java.util.ArrayDeque<String> openRanges = new java.util.ArrayDeque<>();
    private final DeviceCounting counting = new DeviceCounting();
    /** The thread capturing a graph, or null; only its calls are recorded (CUDA's thread-local capture mode). */
    private volatile Thread capturing;
    /** What the capturing thread has queued so far. */
    private List<Runnable> captured;
    private volatile boolean closed;

    /** Runs launches on as many worker threads as the machine has cores (at most 32). */
    public EmuDevice() {
        this(Math.min(32, Runtime.getRuntime().availableProcessors()));
    }

    /** Runs each launch's blocks on {@code workers} worker threads (the launching backend's thread count; 1 to 32). */
    public EmuDevice(int workers) {
        if (workers < 1 || workers > 32) throw new IllegalArgumentException("the emulation takes 1 to 32 worker threads, got " + workers);
        this.workers = workers;
    }

    @Override
    public String describe() {
        return "CUDA emulation on the CPU (" + workers + " worker threads, sanitizer " + (SANITIZER ? "on" : "off") + ")";
    }

    /** Worker threads a launch of this device runs its blocks on. */
    public int workers() {
        return workers;
    }

    /** Whether the emulation's sanitizer checks the launches ({@value #SANITIZER_PROPERTY}). */
    public static boolean sanitizer() {
        return SANITIZER;
    }

    private static boolean instrumented() {
        try {
            return (int) INSTRUMENTED.invokeExact() != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Worker threads the runtime has started so far in this process (any device's). */
    public static int workerThreads() {
        try {
            return (int) WORKER_THREADS.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public Tensor allocate(Arena arena, DType dtype, long... shape) {
        return allocate(arena, dtype, shape, true);
    }

    @Override
    public Tensor allocateUninitialized(Arena arena, DType dtype, long... shape) {
        return allocate(arena, dtype, shape, false);
    }

    /** Runtime memory (256-byte aligned, as cudaMalloc's), freed when the arena closes. */
    private Tensor allocate(Arena arena, DType dtype, long[] shape, boolean zeroed) {
        open();
        refuseWhileCapturing("allocate");
        long bytes = Tensor.numel(shape) * dtype.bytes();
        MemorySegment p;
        try {
            p = (MemorySegment) ALLOC.invokeExact(bytes, zeroed ? 1 : 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (p.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("the emulated device is out of memory: cannot allocate " + bytes
                    + " bytes for " + dtype + " " + java.util.Arrays.toString(shape) + " (" + bytesInUse() + " in use)");
        }
        long address = p.address();
        boolean counted = bytes > 0;  // as cudaMalloc(0), an empty tensor allocates nothing on a GPU
        MemorySegment seg;
        try {
            seg = p.reinterpret(bytes, arena, s -> {
                free(address);
                if (counted) counting.free();
            });
        } catch (RuntimeException e) {
            free(address);  // e.g. the arena was already closed
            throw e;
        }
        if (counted) counting.allocation();
        return Tensor.wrap(seg, dtype, shape);
    }

    private static void free(long address) {
        try {
            int unused = (int) FREE.invokeExact(MemorySegment.ofAddress(address));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Bytes of emulated device memory allocated and not yet freed, over all devices of the process. */
    public static long bytesInUse() {
        try {
            return (long) BYTES_IN_USE.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void upload(Tensor dst, MemorySegment host) {
        refuseWhileCapturing("upload");
        if (host.byteSize() < dst.byteSize()) {
            throw new IllegalArgumentException("upload into " + dst + " needs " + dst.byteSize() + " bytes, host has "
                    + host.byteSize());
        }
        counting.upload(dst.byteSize());
        if (!host.isNative()) counting.synchronization();  // a GPU stages heap memory and waits for the copy
        MemorySegment.copy(host, 0, dst.data(), 0, dst.byteSize());
        markWritten(dst.data(), dst.byteSize());
    }

    @Override
    public void download(MemorySegment host, Tensor src) {
        refuseWhileCapturing("download");
        if (host.byteSize() < src.byteSize()) {
            throw new IllegalArgumentException("download of " + src + " needs " + src.byteSize() + " bytes, host has "
                    + host.byteSize());
        }
        counting.download(src.byteSize());
        MemorySegment.copy(src.data(), 0, host, 0, src.byteSize());
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        if (dst.byteSize() != src.byteSize()) throw new IllegalArgumentException("copy of " + src + " into " + dst);
        if (record(() -> copyNow(dst, src))) return;
        counting.copy();
        copyNow(dst, src);
    }

    /** The copy and its written bytes: the destination is written where the source was. */
    private static void copyNow(Tensor dst, Tensor src) {
        MemorySegment.copy(src.data(), 0, dst.data(), 0, src.byteSize());
        try {
            COPY_WRITTEN.invokeExact(dst.data(), src.data(), src.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void zero(Tensor t) {
        if (record(() -> zeroNow(t))) return;
        counting.memset();
        zeroNow(t);
    }

    private static void zeroNow(Tensor t) {
        t.data().fill((byte) 0);
        markWritten(t.data(), t.byteSize());
    }

    /** Bytes the runtime counts as written from now on (what the host wrote without a kernel). */
    private static void markWritten(MemorySegment at, long bytes) {
        try {
            MARK_WRITTEN.invokeExact(at, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void launch(String name, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        open();
        if (sharedBytes < 0) throw new IllegalArgumentException("kernel " + name + ": negative shared memory " + sharedBytes);
        Kernel kernel = kernels.computeIfAbsent(name, EmuDevice::find);
        checkArguments(name, kernel.params(), args);
        Object[] values = args.clone();  // a captured launch keeps the values it was given, as cuLaunchKernel's capture does
        if (record(() -> run(kernel, name, grid, block, sharedBytes, values))) return;
        counting.launch();
        run(kernel, name, grid, block, sharedBytes, values);
    }

    private void run(Kernel kernel, String name, Dim3 grid, Dim3 block, int sharedBytes, Object[] args) {
        open();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dims = arena.allocate(JAVA_INT, 7);
            int[] d = {grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes};
            MemorySegment.copy(d, 0, dims, JAVA_INT, 0, d.length);
            // kernelParams convention: pointers[i] points at the value of argument i
            MemorySegment values = arena.allocate(8L * Math.max(1, args.length), 8);
            MemorySegment pointers = arena.allocate(ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                MemorySegment slot = values.asSlice(8L * i, 8);
                switch (args[i]) {
                    case Tensor t -> slot.set(JAVA_LONG, 0, t.data().address());
                    case MemorySegment s -> slot.set(JAVA_LONG, 0, s.address());
                    case Integer v -> slot.set(JAVA_INT, 0, v);
                    case Long v -> slot.set(JAVA_LONG, 0, v);
                    case Float v -> slot.set(JAVA_FLOAT, 0, v);
                    default -> throw new AssertionError("checked above");
                }
                pointers.setAtIndex(ADDRESS, i, slot);
            }
            LAUNCH_LOCK.lock();
            try {
                if (configuredWorkers != workers) {
                    CONFIGURE.invokeExact(workers, SANITIZER ? 1 : 0);
                    configuredWorkers = workers;
                }
                kernel.launch().invokeExact(dims, pointers);
                MemorySegment error = (MemorySegment) LAST_ERROR.invokeExact();
                if (!error.equals(MemorySegment.NULL)) {
                    throw new IllegalStateException(error.reinterpret(4096).getString(0) + " (launch of " + name
                            + " with grid " + dim(grid) + ", block " + dim(block) + ", " + sharedBytes
                            + " bytes of shared memory)");
                }
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                LAUNCH_LOCK.unlock();
            }
        }
    }

    private static String dim(Dim3 d) {
        return d.x() + "x" + d.y() + "x" + d.z();
    }

    private static Kernel find(String name) {
        var launch = LIB.find("g4emu_launch_" + name);
        if (launch.isEmpty()) {
            throw new IllegalArgumentException("no kernel named " + name + " in " + LIBRARY
                    + " (a kernel of kernels/*.cu followed by G4_EXPORT(" + name + "))");
        }
        String params = null;
        if (LIB.find("g4emu_params_" + name).isPresent()) {
            try {
                MethodHandle h = NativeLibraries.function(LIB, LIBRARY, "g4emu_params_" + name, PARAMS);
                params = ((MemorySegment) h.invokeExact()).reinterpret(256).getString(0);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }
        return new Kernel(NativeLibraries.function(LIB, LIBRARY, "g4emu_launch_" + name, LAUNCH), params);
    }

    /** Arguments must match the kernel's parameters one for one: the C side trusts them blindly. */
    private static void checkArguments(String name, String params, Object[] args) {
        StringBuilder given = new StringBuilder();
        for (int i = 0; i < args.length; i++) {
            char code = switch (args[i]) {
                case null -> throw new IllegalArgumentException("kernel " + name + ": argument " + i
                        + " is null (pass Device.NULL for a NULL pointer)");
                case Tensor t -> 'p';
                case MemorySegment s -> 'p';
                case Integer v -> 'i';
                case Long v -> 'l';
                case Float v -> 'f';
                default -> throw new IllegalArgumentException("kernel " + name + ": argument " + i + " is a "
                        + args[i].getClass().getSimpleName() + "; kernels take Tensor/MemorySegment (pointer), "
                        + "Integer (int), Long (long long) or Float (float)");
            };
            given.append(code);
        }
        if (params != null && !params.contentEquals(given)) {
            throw new IllegalArgumentException("kernel " + name + " takes (" + spell(params) + ") but was given ("
                    + spell(given.toString()) + ")");
        }
    }

    private static String spell(String codes) {
        StringBuilder s = new StringBuilder();
        for (char c : codes.toCharArray()) {
            if (!s.isEmpty()) s.append(", ");
            s.append(switch (c) {
                case 'p' -> "pointer";
                case 'i' -> "int";
                case 'l' -> "long long";
                case 'f' -> "float";
                default -> "?";
            });
        }
        return s.toString();
    }

    /**
     * On OpenBLAS in fp32. BF16 operands are widened to fp32 first (exactly) and a BF16 C is read
     * widened and written back rounded to nearest even: the same as cuBLAS's
     * {@code cublasGemmEx(..., CUBLAS_COMPUTE_32F)} with bf16 inputs, up to the order of summation.
     */
    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, int lda, Tensor b,
                     int ldb, float beta, Tensor c, int ldc) {
        open();
        if (a.dtype() != b.dtype() || !floating(a.dtype()) || !floating(c.dtype())) {
            throw new IllegalArgumentException("gemm takes A and B both BF16 or both F32, C BF16 or F32; got A "
                    + a + ", B " + b + ", C " + c);
        }
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("gemm sizes must be >= 0: " + m + "x" + n + "x" + k);
        if (m == 0 || n == 0) return;
        long needA = span("A", a, transA ? k : m, transA ? m : k, lda);
        long needB = span("B", b, transB ? n : k, transB ? k : n, ldb);
        long needC = span("C", c, m, n, ldc);
        Runnable gemm = () -> sgemm(transA, transB, m, n, k, alpha, a, needA, lda, b, needB, ldb, beta, c, needC, ldc);
        if (record(gemm)) return;
        counting.gemm();
        gemm.run();
    }

    /** The GEMM itself, run now or at each replay of a graph: what it reads is checked when it runs. */
    private static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, long needA,
                              int lda, Tensor b, long needB, int ldb, float beta, Tensor c, long needC, int ldc) {
        if (SANITIZER) {
            if (k > 0) {
                requireWritten("A", a, transA ? k : m, transA ? m : k, lda);
                requireWritten("B", b, transB ? n : k, transB ? k : n, ldb);
            }
            if (beta != 0f) requireWritten("C", c, m, n, ldc);
        }
        // on the calling thread: OpenBLAS's own threads would go on spinning for a while after the
        // GEMM, on the cores the next launch's workers need
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a32 = asF32(arena, a, needA), b32 = asF32(arena, b, needB), c32 = asF32(arena, c, needC);
            OpenBlas.sgemm(1, transA, transB, m, n, k, alpha, a32, lda, b32, ldb, beta, c32, ldc);
            if (c.dtype() == DType.BF16) CpuKernels.f32ToBf16(c.data(), c32, needC);
        }
        long row = (long) c.dtype().bytes() * ldc, cols = (long) c.dtype().bytes() * n;
        if (ldc == n) markWritten(c.data(), row * m);
        else for (int i = 0; i < m; i++) markWritten(c.data().asSlice(i * row, cols), cols);
    }

    /** The GEMM reads what it multiplies: every element of the rows x cols operand must have been written. */
    private static void requireWritten(String what, Tensor t, int rows, int cols, int ld) {
        long row = (long) t.dtype().bytes() * ld, width = (long) t.dtype().bytes() * cols;
        boolean dense = ld == cols;  // one look at the whole matrix
        for (int i = 0; i < (dense ? 1 : rows); i++) {
            long bytes = dense ? row * rows : width, at;
            try {
                at = (long) FIRST_UNWRITTEN.invokeExact(t.data().asSlice(i * row, bytes), bytes);
            } catch (Throwable e) {
                throw rethrow(e);
            }
            if (at >= 0) {
                long element = i * (long) ld + at / t.dtype().bytes();
                throw new IllegalStateException("gemm reads uninitialised device memory: element (" + element / ld + ", "
                        + element % ld + ") of " + what + " (" + t + ") was never written since it was allocated");
            }
        }
    }

    private static boolean floating(DType d) {
        return d == DType.F32 || d == DType.BF16;
    }

    /** Elements a rows x cols matrix with row stride ld spans; checks it fits in t. */
    private static long span(String what, Tensor t, int rows, int cols, int ld) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("gemm: ld" + what.toLowerCase() + " = " + ld + " is less than the "
                    + cols + " columns of " + what);
        }
        long need = rows == 0 ? 0 : (long) (rows - 1) * ld + cols;
        if (need > t.numel()) {
            throw new IllegalArgumentException("gemm: " + what + " as " + rows + "x" + cols + " with stride " + ld
                    + " needs " + need + " elements, " + t + " has " + t.numel());
        }
        return need;
    }

    /** The first {@code count} elements of t as fp32: t itself, or a widened copy of a BF16 t. */
    private static MemorySegment asF32(Arena arena, Tensor t, long count) {
        if (t.dtype() == DType.F32) return t.data();
        MemorySegment out = arena.allocate(JAVA_FLOAT, Math.max(1, count));
        CpuKernels.bf16ToF32(out, t.data(), count);
        return out;
    }

    @Override
    public void synchronize() {
        refuseWhileCapturing("synchronize");
        counting.synchronization();
    }

    /** Complete when recorded: the work before it ran when it was queued. */
    @Override
    public Event record(Stream stream) {
        open();
        refuseWhileCapturing("recording an event");
        counting.eventRecord();
        return new Event() {
            @Override
            public void synchronize() {
                counting.eventWait();
            }

            @Override
            public void close() {}
        };
    }

    @Override
    public void waitFor(Stream stream, Event event) {
        open();
        refuseWhileCapturing("a stream's wait for an event");
        counting.streamWait();
    }

    @Override
    public void downloadBehind(MemorySegment host, Tensor src) {
        open();
        refuseWhileCapturing("downloadBehind");
        if (host.byteSize() < src.byteSize()) {
            throw new IllegalArgumentException("download of " + src + " needs " + src.byteSize() + " bytes, host has "
                    + host.byteSize());
        }
        if (src.byteSize() == 0) return;
        counting.asyncDownload(src.byteSize());
        MemorySegment.copy(src.data(), 0, host, 0, src.byteSize());
    }

    @Override
    public void zeroBehind(Tensor t) {
        open();
        refuseWhileCapturing("zeroBehind");
        if (t.byteSize() == 0) return;
        counting.memset();
        zeroNow(t);
    }

    @Override
    public DeviceCounters counters() {
        return counting.snapshot();
    }

    /**
     * Runs {@code body} with this thread's launches, GEMMs, copies and zero fills recorded instead of run;
     * the graph replays them in order. Allocating, copying to or from the host and synchronising are
     * refused meanwhile, as stream capture refuses them on a GPU.
     */
    @Override
    public Backend.Graph captureGraph(Runnable body) {
        open();
        List<Runnable> work = new ArrayList<>();
        synchronized (this) {
            if (capturing != null) throw new IllegalStateException("a graph is already being captured on " + describe());
            captured = work;
            capturing = Thread.currentThread();
        }
        try {
            body.run();
        } finally {
            synchronized (this) {
                capturing = null;
                captured = null;
            }
        }
        return new EmuGraph(List.copyOf(work));
    }

    /** Queues {@code op} into the graph being captured when this thread captures one; false otherwise. */
    private boolean record(Runnable op) {
        if (capturing != Thread.currentThread()) return false;
        captured.add(op);
        return true;
    }

    private void refuseWhileCapturing(String what) {
        if (capturing == Thread.currentThread()) {
            throw new IllegalStateException(what + " while a graph is being captured: a captured step may only queue "
                    + "kernels, GEMMs, device copies and zero fills");
        }
    }

    /** Recorded work: each launch runs every recorded call again, with the arguments it was recorded with. */
    private final class EmuGraph implements Backend.Graph {
        private final List<Runnable> work;
        private boolean closed;

        EmuGraph(List<Runnable> work) {
            this.work = work;
        }

        @Override
        public void launch() {
            if (closed) throw new IllegalStateException("the graph is closed");
            open();
            counting.graphLaunch();
            for (Runnable op : work) op.run();
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** No profiler timeline here; the depth is kept so that an unbalanced pop is caught on the CPU. */
    @Override
    public synchronized void rangePush(String name) {
        rangeDepth++;
        openRanges.push(name);
        if (rangeLog != null) rangeLog.add("+" + name);
    }

    @Override
    public synchronized void rangePop() {
        if (rangeDepth == 0) throw new IllegalStateException("rangePop without a matching rangePush");
        rangeDepth--;
        String name = openRanges.pop();
        if (rangeLog != null) rangeLog.add("-" + name);
    }

    /**
     * From now on every range push and pop is logged (what NVTX would receive on a GPU), so tests can
     * check the ranges' names and nesting without a profiler.
     */
    public synchronized void recordRanges() {
        rangeLog = new java.util.ArrayList<>();
    }

    /** The log since {@link #recordRanges}: "+name" for a push, "-name" for the pop that closes it. */
    public synchronized java.util.List<String> recordedRanges() {
        if (rangeLog == null) throw new IllegalStateException("recordRanges() was not called");
        return java.util.List.copyOf(rangeLog);
    }

    /** Ranges open now (0 when every push has been popped). */
    public synchronized int openRanges() {
        return rangeDepth;
    }

    @Override
    public void close() {
        closed = true;  // memory belongs to the callers' arenas; the worker threads serve the process
    }

    private void open() {
        if (closed) throw new IllegalStateException("the emulated CUDA device is closed");
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    @Override
    public String toString() {
        return describe();
    }
}
