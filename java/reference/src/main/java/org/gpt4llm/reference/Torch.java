package org.gpt4llm.reference;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Optional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Moves data between our tensors and libtorch's (CPU), for the oracle in tests and the peer in
 * {@code gpt4llm bench}. Every conversion copies: the two never share memory.
 */
public final class Torch {
    /**
     * libtorch's GEMM is OpenBLAS ({@code libopenblas.so.0}, pthreads), a library of its own beside
     * the one our CPU backend calls, and {@code torch::set_num_threads} does not reach it: its
     * thread count is set here directly. Null where libtorch was built without it.
     */
    private static final MethodHandle BLAS_SET_THREADS, BLAS_GET_THREADS;

    static {
        torch.get_num_threads(); // loads libtorch, and with it its BLAS
        MethodHandle set = null, get = null;
        try {
            SymbolLookup blas = SymbolLookup.libraryLookup("libopenblas.so.0", Arena.global());
            Optional<java.lang.foreign.MemorySegment> s = blas.find("openblas_set_num_threads");
            Optional<java.lang.foreign.MemorySegment> g = blas.find("openblas_get_num_threads");
            if (s.isPresent() && g.isPresent()) {
                set = Linker.nativeLinker().downcallHandle(s.get(), FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
                get = Linker.nativeLinker().downcallHandle(g.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
            }
        } catch (IllegalArgumentException e) {
            // no such library in this process: libtorch uses another BLAS
        }
        BLAS_SET_THREADS = set;
        BLAS_GET_THREADS = get;
    }

    private Torch() {}

    /** Sets libtorch's intra-op thread count and its BLAS's (it uses one thread here unless told). */
    public static void setThreads(int n) {
        setThreads(n, n);
    }

    /**
     * Sets libtorch's intra-op threads and, separately, its OpenBLAS's. Ops that call BLAS from inside
     * their own parallel loops (scaled_dot_product_attention's blocks) want BLAS at 1: its pthreads
     * pool nested in the OpenMP team oversubscribes the cores. In this process the BLAS
     * setting also reaches the OpenBLAS our CPU backend calls: after this call
     * {@code OpenBlas.getNumThreads()} reads the same value.
     */
    public static void setThreads(int intraOp, int blas) {
        torch.set_num_threads(intraOp);
        if (BLAS_SET_THREADS != null) {
            try {
                BLAS_SET_THREADS.invokeExact(blas);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }

    public static int threads() {
        return torch.get_num_threads();
    }

    /** Threads of libtorch's OpenBLAS, or -1 when libtorch does not use a separate OpenBLAS. */
    public static int blasThreads() {
        if (BLAS_GET_THREADS == null) return -1;
        try {
            return (int) BLAS_GET_THREADS.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * libtorch's AdamW options: decoupled weight decay, the given betas, eps and decay (the learning
     * rate is set per step). libstdc++ lays {@code std::tuple<double,double>} out last element first,
     * so betas()[0] is beta2 and [1] is beta1.
     */
    public static org.bytedeco.pytorch.AdamWOptions adamWOptions(double lr, float beta1, float beta2, float eps,
                                                                 float weightDecay) {
        org.bytedeco.pytorch.AdamWOptions o = new org.bytedeco.pytorch.AdamWOptions(lr);
        o.betas().put(0, beta2).put(1, beta1);
        o.eps().put(eps);
        o.weight_decay().put(weightDecay);
        return o;
    }

    /** The libtorch version of the bound library (bytedeco's preset version, e.g. 2.10.0-1.5.13). */
    public static String version() {
        String v = org.bytedeco.pytorch.Tensor.class.getPackage().getImplementationVersion();
        return v == null ? "unknown" : v;
    }

    /** A float32 libtorch tensor with the given shape holding a copy of {@code values}. */
    public static org.bytedeco.pytorch.Tensor floats(float[] values, long... shape) {
        return org.bytedeco.pytorch.Tensor.create(values, shape);
    }

    /** An int64 libtorch tensor (the index type libtorch wants) from int values. */
    public static org.bytedeco.pytorch.Tensor longs(int[] values, long... shape) {
        long[] l = new long[values.length];
        for (int i = 0; i < l.length; i++) l[i] = values[i];
        return org.bytedeco.pytorch.Tensor.create(l, shape);
    }

    /** A copy of one of our tensors: floating dtypes become float32, I32 becomes int64. */
    public static org.bytedeco.pytorch.Tensor of(Tensor t) {
        if (t.dtype() == DType.I32) return longs(t.toIntArray(), t.shape());
        return floats(t.toFloatArray(), t.shape());
    }

    /** The values of a float32 libtorch tensor in row-major order. */
    public static float[] toFloats(org.bytedeco.pytorch.Tensor t) {
        org.bytedeco.pytorch.Tensor c = t.contiguous();
        if (c.scalar_type() != torch.ScalarType.Float) c = c.to(torch.ScalarType.Float).contiguous();
        FloatBuffer b = c.createBuffer();
        float[] out = new float[(int) c.numel()];
        b.get(out);
        // the buffer only points at c's memory: without c reachable until here, the garbage collector
        // may let JavaCPP free a temporary c while its values are still being copied
        java.lang.ref.Reference.reachabilityFence(c);
        return out;
    }

    /** The values of an int32/int64 libtorch tensor. */
    public static int[] toInts(org.bytedeco.pytorch.Tensor t) {
        org.bytedeco.pytorch.Tensor c = t.contiguous().to(torch.ScalarType.Long).contiguous();
        LongBuffer b = c.createBuffer();
        int[] out = new int[(int) c.numel()];
        for (int i = 0; i < out.length; i++) out[i] = Math.toIntExact(b.get(i));
        java.lang.ref.Reference.reachabilityFence(c); // as in toFloats
        return out;
    }

}
