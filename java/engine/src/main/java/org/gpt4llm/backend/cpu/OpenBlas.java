package org.gpt4llm.backend.cpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import org.bytedeco.javacpp.Loader;
import org.gpt4llm.nativelib.NativeLibraries;

/**
 * OpenBLAS from the {@code org.bytedeco:openblas} jar: JavaCPP's loader extracts and loads the
 * shared library (no system package needed), then sgemm is called through Panama directly, with
 * no JNI wrapper in between.
 */
public final class OpenBlas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private static final String NAME = "OpenBLAS (org.bytedeco:openblas)";
    private static final SymbolLookup LIB = load();
    private static final MethodHandle SGEMM = NativeLibraries.function(LIB, NAME, "cblas_sgemm",
            FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT,
                    ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT));
    private static final MethodHandle SET_THREADS = NativeLibraries.function(LIB, NAME, "openblas_set_num_threads",
            FunctionDescriptor.ofVoid(JAVA_INT));
    private static final MethodHandle GET_THREADS = NativeLibraries.function(LIB, NAME, "openblas_get_num_threads",
            FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GET_CONFIG = NativeLibraries.function(LIB, NAME, "openblas_get_config",
            FunctionDescriptor.of(ADDRESS));
    private static final MethodHandle GET_CORENAME = NativeLibraries.function(LIB, NAME, "openblas_get_corename",
            FunctionDescriptor.of(ADDRESS));

    private OpenBlas() {}

    private static SymbolLookup load() {
        NativeLibraries.prepareEnvironment(); // OPENBLAS_THREAD_TIMEOUT is read as the library loads
        try {
            // Loads libopenblas_nolapack.so.0 (and its JNI shim) into the process.
            Loader.load(org.bytedeco.openblas.global.openblas_nolapack.class);
        } catch (Throwable t) {
            throw new NativeLibraries.NativeLibraryException(
                    "cannot load OpenBLAS from the org.bytedeco:openblas jar: " + t.getMessage(), t);
        }
        // dlopen by soname finds the copy JavaCPP just loaded.
        return SymbolLookup.libraryLookup("libopenblas_nolapack.so.0", Arena.global());
    }

    /**
     * Row-major {@code C[m,n] = alpha * op(A) * op(B) + beta * C} on {@code threads} OpenBLAS threads,
     * op(A) [m,k], op(B) [k,n]; {@code lda/ldb/ldc} are the row strides (in elements) of A, B, C as stored.
     *
     * <p>OpenBLAS keeps one thread count for the whole process (in this pthreads build
     * {@code openblas_set_num_threads_local} sets it too), and a GEMM's rounding depends on it. Callers
     * wanting different counts (a skinny GEMM run alone, an emulated device's GEMM on its own thread, the
     * ranks of one process) therefore take turns: GEMMs of one count run together, one of another count
     * starts when they are done. A GEMM's result is then the one its own count gives, whatever runs beside it.
     * Once they are done the count returns to what it was, which libtorch in the same process reads.
     */
    public static void sgemm(int threads, boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, int lda, MemorySegment b, int ldb, float beta,
                             MemorySegment c, int ldc) {
        if (threads < 1) throw new IllegalArgumentException("a GEMM needs at least 1 thread, got " + threads);
        enterTurn(threads);
        try {
            SGEMM.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
                    a, lda, b, ldb, beta, c, ldc);
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        } finally {
            leaveTurn();
        }
    }

    private static final Object TURNS = new Object();
    /** GEMMs running now (all on the current thread count), and callers waiting to change the count. */
    private static int running, waitingToSwitch;
    /** The count before the running GEMMs changed it, restored when they are done; 0 while unchanged. */
    private static int restingCount;

    private static void enterTurn(int threads) {
        synchronized (TURNS) {
            boolean switcher = false, interrupted = false;
            while (true) {
                int current = getNumThreads();
                boolean sameCount = current == threads;
                boolean othersFirst = !switcher && waitingToSwitch > 0; // a count change waits; don't starve it
                if (!othersFirst && (running == 0 || sameCount)) {
                    if (!sameCount) {
                        if (restingCount == 0) restingCount = current;
                        setNumThreads(threads);
                    }
                    break;
                }
                if (!sameCount && !switcher) {
                    switcher = true;
                    waitingToSwitch++;
                }
                try {
                    TURNS.wait();
                } catch (InterruptedException e) {
                    interrupted = true; // the GEMMs ahead finish in microseconds: wait them out
                }
            }
            if (switcher) waitingToSwitch--;
            running++;
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    private static void leaveTurn() {
        synchronized (TURNS) {
            if (--running > 0) return;
            // a caller waiting to switch sets its own count next; the resting one returns after its turn
            if (waitingToSwitch == 0) {
                if (restingCount != 0 && restingCount != getNumThreads()) setNumThreads(restingCount);
                restingCount = 0;
            }
            TURNS.notifyAll();
        }
    }

    public static void setNumThreads(int n) {
        try { SET_THREADS.invokeExact(n); } catch (Throwable t) { throw new IllegalStateException(t); }
    }

    public static int getNumThreads() {
        try { return (int) GET_THREADS.invokeExact(); } catch (Throwable t) { throw new IllegalStateException(t); }
    }

    /** OpenBLAS's build configuration and the core kernel it picked, e.g. "OpenBLAS 0.3.31 ... (Haswell)". */
    public static String describe() {
        try {
            String config = ((MemorySegment) GET_CONFIG.invokeExact()).reinterpret(4096).getString(0);
            String core = ((MemorySegment) GET_CORENAME.invokeExact()).reinterpret(256).getString(0);
            return config.trim() + " (core " + core + ")";
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
