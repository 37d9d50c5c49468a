package org.gpt4llm.backend.cpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.Locale;
import org.gpt4llm.nativelib.NativeLibraries;
import org.gpt4llm.tensor.DType;

/**
 * Panama bindings of {@code native/include/g4_cpu.h}, one static method per C function, same
 * argument order. Pointers are {@link MemorySegment}s ({@link MemorySegment#NULL} for C NULL).
 */
public final class CpuKernels {
    public static final String LIBRARY = "libgpt4llm_cpu.so";
    private static final SymbolLookup LIB = NativeLibraries.open(NativeLibraries.locate(LIBRARY));

    private static MethodHandle fn(String name, MemoryLayout ret, MemoryLayout... args) {
        FunctionDescriptor fd = ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args);
        return NativeLibraries.function(LIB, LIBRARY, name, fd);
    }

    private static final MethodHandle SET_NUM_THREADS = fn("g4_set_num_threads", null, JAVA_INT);
    private static final MethodHandle GET_NUM_THREADS = fn("g4_get_num_threads", JAVA_INT);
    private static final MethodHandle SIMD_LEVEL = fn("g4_simd_level", JAVA_INT);
    private static final MethodHandle FORCE_SIMD_LEVEL = fn("g4_force_simd_level", JAVA_INT, JAVA_INT);
    private static final MethodHandle AVX512_EMULATED = fn("g4_avx512_emulated", JAVA_INT);
    private static final MethodHandle BUILD_INFO = fn("g4_build_info", ADDRESS);
    private static final MethodHandle BF16_TO_F32 = fn("g4_bf16_to_f32", null, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle F16_TO_F32 = fn("g4_f16_to_f32", null, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle F32_TO_BF16 = fn("g4_f32_to_bf16", null, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle F32_TO_F16 = fn("g4_f32_to_f16", null, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle CONVERT_FINITE = fn("g4_convert_finite", JAVA_LONG,
            ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG);
    private static final MethodHandle GEMV = fn("g4_gemv", JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS,
            JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, JAVA_FLOAT);
    private static final MethodHandle GEMV_SHARED = fn("g4_gemv_shared", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS,
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle ADD = fn("g4_add", null, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle SCALE = fn("g4_scale", null, ADDRESS, JAVA_LONG, JAVA_FLOAT);
    private static final MethodHandle SUMSQ = fn("g4_sumsq", JAVA_DOUBLE, ADDRESS, JAVA_LONG);
    private static final MethodHandle EMBEDDING_FWD = fn("g4_embedding_fwd", null, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle EMBEDDING_BWD = fn("g4_embedding_bwd", null, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle RMSNORM_FWD = fn("g4_rmsnorm_fwd", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle RMSNORM_BWD = fn("g4_rmsnorm_bwd", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle ROPE_FWD = fn("g4_rope_fwd", null, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle ROPE_BWD = fn("g4_rope_bwd", null, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle ATTENTION_FWD = fn("g4_attention_fwd", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle ATTENTION_BWD = fn("g4_attention_bwd", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle KV_CACHE_WRITE = fn("g4_kv_cache_write", null,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle ATTENTION_DECODE = fn("g4_attention_decode", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle SWIGLU_FWD = fn("g4_swiglu_fwd", null, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle SWIGLU_BWD = fn("g4_swiglu_bwd", null, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle LAYERNORM_FWD = fn("g4_layernorm_fwd", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle LAYERNORM_BWD = fn("g4_layernorm_bwd", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle RELU_FWD = fn("g4_relu_fwd", null, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle RELU_BWD = fn("g4_relu_bwd", null, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle REWARD_PAIRWISE_LOSS = fn("g4_reward_pairwise_loss", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT);
    private static final MethodHandle DPO_LOSS = fn("g4_dpo_loss", null, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_FLOAT, JAVA_FLOAT, JAVA_INT);
    private static final MethodHandle DPO_SEQUENCE_LOGP = fn("g4_dpo_sequence_logp", null, ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT);
    private static final MethodHandle DPO_STEP = fn("g4_dpo_step", null, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle CROSS_ENTROPY = fn("g4_cross_entropy", JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT);
    private static final MethodHandle CROSS_ENTROPY_ROWS = fn("g4_cross_entropy_rows", JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT);
    private static final MethodHandle ADAMW = fn("g4_adamw", null,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT,
            JAVA_FLOAT, JAVA_INT, JAVA_FLOAT);

    /**
     * The environment variable that caps the kernels' SIMD path, as oneDNN's {@code ONEDNN_MAX_CPU_ISA}
     * does its own: {@code scalar}, {@code avx2}, {@code avx512} or {@code avx512_bf16}. The kernels take
     * the best path the CPU has up to that one, so that one machine can time each path ({@code bench}).
     */
    public static final String ISA_VARIABLE = "GPT4LLM_CPU_ISA";

    /** The path {@link #ISA_VARIABLE} caps the kernels at, or null where it is not set. */
    private static final SimdPath CAP = SimdPath.cap(ISA_VARIABLE, System.getenv(ISA_VARIABLE));

    static {
        if (CAP != null) forceSimdPath(null);  // unset, the library starts on the best path already
    }

    private CpuKernels() {}

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    public static void setNumThreads(int n) {
        try { SET_NUM_THREADS.invokeExact(n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static int getNumThreads() {
        try { return (int) GET_NUM_THREADS.invokeExact(); } catch (Throwable t) { throw rethrow(t); }
    }

    /** The SIMD paths of the kernels, in the order of {@code g4_cpu.h}'s {@code G4_SIMD_*} levels. */
    public enum SimdPath {
        SCALAR("scalar"), AVX2("AVX2/FMA"), AVX512("AVX-512F (GEMV, attention, cross-entropy) + AVX2/FMA"),
        /** AVX-512F, and bf16 weights in the GEMV meet activations rounded to bf16 in AVX512_BF16 dot products. */
        AVX512_BF16("AVX-512F (GEMV, attention, cross-entropy), AVX512_BF16 dot products for bf16 weights in the GEMV"
                + " + AVX2/FMA");

        private final String description;

        SimdPath(String description) {
            this.description = description;
        }

        @Override
        public String toString() {
            return description;
        }

        /**
         * The path {@code value} names (its name in any case: {@code avx512_bf16}), or null where it is unset or
         * blank; any other value is refused in a sentence naming {@code variable}.
         */
        static SimdPath cap(String variable, String value) {
            if (value == null || value.isBlank()) return null;
            for (SimdPath p : values()) {
                if (p.name().toLowerCase(Locale.ROOT).equals(value.trim().toLowerCase(Locale.ROOT))) return p;
            }
            throw new IllegalArgumentException(variable + "=" + value + " names no SIMD path of the CPU kernels: give scalar,"
                    + " avx2, avx512 or avx512_bf16");
        }
    }

    /** The path the kernels take now: the best the CPU has up to {@link #ISA_VARIABLE}'s, unless one was forced. */
    public static SimdPath simdPath() {
        try { return SimdPath.values()[(int) SIMD_LEVEL.invokeExact()]; } catch (Throwable t) { throw rethrow(t); }
    }

    /** Whether (part of) the AVX-512 path runs through the emulation (forced on a CPU without the instructions). */
    public static boolean avx512Emulated() {
        try { return (int) AVX512_EMULATED.invokeExact() != 0; } catch (Throwable t) { throw rethrow(t); }
    }

    /**
     * Makes the kernels take {@code path}, or for null the default: the best the CPU has, up to
     * {@link #ISA_VARIABLE}'s path where that is set. For tests, which run each path, and benchmarks.
     * AVX-512 (and AVX512_BF16) run emulated on a CPU without them where the library was built with SIMDe.
     */
    public static void forceSimdPath(SimdPath path) {
        if (path == null) {
            force(-1);
            if (CAP != null && CAP.compareTo(simdPath()) < 0) force(CAP.ordinal());
            return;
        }
        if (force(path.ordinal()) != 0) {
            throw new IllegalStateException("the " + path + " path cannot run here: this CPU lacks it"
                    + (path.compareTo(SimdPath.AVX512) >= 0
                            ? " and " + LIBRARY + " was built without SIMDe (libsimde-dev) to emulate it" : ""));
        }
    }

    private static int force(int level) {
        try { return (int) FORCE_SIMD_LEVEL.invokeExact(level); } catch (Throwable t) { throw rethrow(t); }
    }

    /**
     * Keeps bf16 weights widened to meet fp32 activations, so that they give the results of their fp32
     * widening up to the order of sums on any CPU: where the best path is {@link SimdPath#AVX512_BF16},
     * takes {@link SimdPath#AVX512} instead, without the dot products that round activations to bf16.
     * {@code forceSimdPath(null)} returns to the default path.
     */
    public static void widenHalfWeights() {
        if (simdPath() == SimdPath.AVX512_BF16) forceSimdPath(SimdPath.AVX512);
    }

    /** The most weights {@link #gemvShared} takes in one call. */
    public static final int GEMV_SHARED_MAX = 8;

    /** The pointer and size arrays of a {@link #gemvShared} call, one set per calling thread. */
    private static final ThreadLocal<MemorySegment> SHARED_ARGS =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(GEMV_SHARED_MAX * (8L + 8L + 4L), 8));

    /**
     * {@code C_i[m, n_i] = A[m, k] W_iᵀ} (overwrite) for each i: several weights of one input (a layer's
     * q, k and v), as {@link #gemv} each, in one run of the worker threads. W_i (all of {@code wType}) have
     * rows of k, C_i rows of n_i.
     */
    public static void gemvShared(MemorySegment[] c, MemorySegment a, long lda, MemorySegment[] w, DType wType, int[] n,
                                  int m, int k) {
        int count = c.length;
        if (count < 1 || count > GEMV_SHARED_MAX || w.length != count || n.length != count) {
            throw new IllegalArgumentException("gemvShared: 1 to " + GEMV_SHARED_MAX + " outputs, weights and sizes, got "
                    + c.length + ", " + w.length + ", " + n.length);
        }
        if (wType != DType.F32 && wType != DType.BF16 && wType != DType.F16) {
            throw new IllegalArgumentException("gemvShared: weights must be F32, BF16 or F16, got " + wType);
        }
        MemorySegment args = SHARED_ARGS.get();
        long wAt = 8L * GEMV_SHARED_MAX, nAt = 16L * GEMV_SHARED_MAX;
        for (int i = 0; i < count; i++) {
            args.setAtIndex(ADDRESS, i, c[i]);
            args.set(ADDRESS, wAt + 8L * i, w[i]);
            args.set(JAVA_INT, nAt + 4L * i, n[i]);
        }
        int r;
        try {
            r = (int) GEMV_SHARED.invokeExact(args, a, lda, args.asSlice(wAt), code(wType), args.asSlice(nAt), count, m, k);
        } catch (Throwable t) { throw rethrow(t); }
        if (r != 0) throw new IllegalArgumentException("gemvShared: negative size among m=" + m + ", k=" + k + ", n="
                + Arrays.toString(n));
    }

    public static String buildInfo() {
        try {
            MemorySegment s = (MemorySegment) BUILD_INFO.invokeExact();
            return s.reinterpret(4096).getString(0);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void bf16ToF32(MemorySegment out, MemorySegment in, long n) {
        try { BF16_TO_F32.invokeExact(out, in, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void f16ToF32(MemorySegment out, MemorySegment in, long n) {
        try { F16_TO_F32.invokeExact(out, in, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void f32ToBf16(MemorySegment out, MemorySegment in, long n) {
        try { F32_TO_BF16.invokeExact(out, in, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void f32ToF16(MemorySegment out, MemorySegment in, long n) {
        try { F32_TO_F16.invokeExact(out, in, n); } catch (Throwable t) { throw rethrow(t); }
    }

    /**
     * {@code out = in} converted (or copied) between F32, BF16 and F16, and, in the same pass over
     * {@code in}, the index of its first NaN or infinite element (-1 when all are finite).
     */
    public static long convertFinite(MemorySegment out, DType outType, MemorySegment in, DType inType, long n) {
        long r;
        try { r = (long) CONVERT_FINITE.invokeExact(out, code(outType), in, code(inType), n); } catch (Throwable t) { throw rethrow(t); }
        if (r == -2) throw new IllegalArgumentException("no conversion from " + inType + " to " + outType);
        return r;
    }

    /** The G4_DTYPE_* code of a floating dtype. */
    private static int code(DType t) {
        return switch (t) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            default -> throw new IllegalArgumentException("no conversion to or from " + t);
        };
    }

    /**
     * {@code C[m,n] = alpha * A[m,k] W[n,k]ᵀ + beta * C} (C not read when beta is 0) for a few rows of A,
     * reading W (F32, BF16 or F16) once for all of them, on the library's worker threads; lda, ldw, ldc
     * are row strides in elements. On the {@link SimdPath#AVX512_BF16} path, BF16 W meets A rounded to
     * bf16: {@code C = alpha * bf16(A) Wᵀ + beta * C}, each product exact, sums in fp32.
     */
    public static void gemv(MemorySegment c, long ldc, MemorySegment a, long lda, MemorySegment w, DType wType, long ldw,
                            int m, int n, int k, float alpha, float beta) {
        if (wType != DType.F32 && wType != DType.BF16 && wType != DType.F16) {
            throw new IllegalArgumentException("gemv: weights must be F32, BF16 or F16, got " + wType);
        }
        int r;
        try {
            r = (int) GEMV.invokeExact(c, ldc, a, lda, w, code(wType), ldw, m, n, k, alpha, beta);
        } catch (Throwable t) { throw rethrow(t); }
        if (r != 0) throw new IllegalArgumentException("gemv: negative size in " + m + "x" + n + "x" + k);
    }

    public static void add(MemorySegment y, MemorySegment a, MemorySegment b, long n) {
        try { ADD.invokeExact(y, a, b, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void scale(MemorySegment x, long n, float s) {
        try { SCALE.invokeExact(x, n, s); } catch (Throwable t) { throw rethrow(t); }
    }

    public static double sumsq(MemorySegment x, long n) {
        try { return (double) SUMSQ.invokeExact(x, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void embeddingFwd(MemorySegment out, MemorySegment tok, MemorySegment table, int n, int c) {
        try { EMBEDDING_FWD.invokeExact(out, tok, table, n, c); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void embeddingBwd(MemorySegment dtable, MemorySegment tok, MemorySegment dout, int n, int c) {
        try { EMBEDDING_BWD.invokeExact(dtable, tok, dout, n, c); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void rmsnormFwd(MemorySegment y, MemorySegment rstd, MemorySegment x, MemorySegment w,
                                  int n, int c, float eps) {
        try { RMSNORM_FWD.invokeExact(y, rstd, x, w, n, c, eps); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void rmsnormBwd(MemorySegment dx, MemorySegment dw, MemorySegment dy, MemorySegment x,
                                  MemorySegment w, MemorySegment rstd, int n, int c) {
        try { RMSNORM_BWD.invokeExact(dx, dw, dy, x, w, rstd, n, c); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void ropeFwd(MemorySegment x, MemorySegment pos, int n, int h, int d, float theta) {
        try { ROPE_FWD.invokeExact(x, pos, n, h, d, theta); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void ropeBwd(MemorySegment dx, MemorySegment pos, int n, int h, int d, float theta) {
        try { ROPE_BWD.invokeExact(dx, pos, n, h, d, theta); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void attentionFwd(MemorySegment out, MemorySegment lse, MemorySegment q, MemorySegment k,
                                    MemorySegment v, MemorySegment seg, int b, int t, int hq, int hkv, int d,
                                    float scale) {
        try { ATTENTION_FWD.invokeExact(out, lse, q, k, v, seg, b, t, hq, hkv, d, scale); } catch (Throwable e) { throw rethrow(e); }
    }

    public static void kvCacheWrite(MemorySegment cache, MemorySegment src, MemorySegment lengths, int b, int tq,
                                    int tmax, int w) {
        try { KV_CACHE_WRITE.invokeExact(cache, src, lengths, b, tq, tmax, w); } catch (Throwable e) { throw rethrow(e); }
    }

    public static void attentionDecode(MemorySegment out, MemorySegment q, MemorySegment kc, MemorySegment vc,
                                       MemorySegment lengths, int b, int tq, int tmax, int hq, int hkv, int d,
                                       float scale) {
        try {
            ATTENTION_DECODE.invokeExact(out, q, kc, vc, lengths, b, tq, tmax, hq, hkv, d, scale);
        } catch (Throwable e) { throw rethrow(e); }
    }

    public static void attentionBwd(MemorySegment dq, MemorySegment dk, MemorySegment dv, MemorySegment dout,
                                    MemorySegment out, MemorySegment lse, MemorySegment q, MemorySegment k,
                                    MemorySegment v, MemorySegment seg, int b, int t, int hq, int hkv, int d,
                                    float scale) {
        try {
            ATTENTION_BWD.invokeExact(dq, dk, dv, dout, out, lse, q, k, v, seg, b, t, hq, hkv, d, scale);
        } catch (Throwable e) { throw rethrow(e); }
    }

    public static void swigluFwd(MemorySegment h, MemorySegment g, MemorySegment u, long n) {
        try { SWIGLU_FWD.invokeExact(h, g, u, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void swigluBwd(MemorySegment dg, MemorySegment du, MemorySegment dh, MemorySegment g,
                                 MemorySegment u, long n) {
        try { SWIGLU_BWD.invokeExact(dg, du, dh, g, u, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void layernormFwd(MemorySegment y, MemorySegment mean, MemorySegment rstd, MemorySegment x,
                                    MemorySegment w, MemorySegment b, int n, int c, float eps) {
        try { LAYERNORM_FWD.invokeExact(y, mean, rstd, x, w, b, n, c, eps); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void layernormBwd(MemorySegment dx, MemorySegment dw, MemorySegment db, MemorySegment dy,
                                    MemorySegment x, MemorySegment w, MemorySegment mean, MemorySegment rstd,
                                    int n, int c) {
        try {
            LAYERNORM_BWD.invokeExact(dx, dw, db, dy, x, w, mean, rstd, n, c);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void reluFwd(MemorySegment y, MemorySegment x, long n) {
        try { RELU_FWD.invokeExact(y, x, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void reluBwd(MemorySegment dx, MemorySegment dy, MemorySegment x, long n) {
        try { RELU_BWD.invokeExact(dx, dy, x, n); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void rewardPairwiseLoss(MemorySegment loss, MemorySegment dr, MemorySegment r, MemorySegment gold,
                                          MemorySegment offsets, int groups, float margin, float centerCoef,
                                          float invPairs) {
        try {
            REWARD_PAIRWISE_LOSS.invokeExact(loss, dr, r, gold, offsets, groups, margin, centerCoef, invPairs);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void dpoLoss(MemorySegment loss, MemorySegment metrics, MemorySegment dc, MemorySegment dr,
                               MemorySegment pc, MemorySegment pr, MemorySegment rc, MemorySegment rr, int pairs,
                               int type, float beta, float labelSmoothing, boolean referenceFree) {
        try {
            DPO_LOSS.invokeExact(loss, metrics, dc, dr, pc, pr, rc, rr, pairs, type, beta, labelSmoothing,
                    referenceFree ? 1 : 0);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void dpoSequenceLogp(MemorySegment logp, MemorySegment losses, int batch, int len) {
        try { DPO_SEQUENCE_LOGP.invokeExact(logp, losses, batch, len); } catch (Throwable t) { throw rethrow(t); }
    }

    public static void dpoStep(MemorySegment lossSum, MemorySegment metricSums, MemorySegment rowScale,
                               MemorySegment loss, MemorySegment metrics, MemorySegment dc, MemorySegment dr,
                               MemorySegment gradScale, int pairs) {
        try {
            DPO_STEP.invokeExact(lossSum, metricSums, rowScale, loss, metrics, dc, dr, gradScale, pairs);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static int crossEntropyRows(MemorySegment losses, MemorySegment dlogits, MemorySegment logits,
                                       MemorySegment targets, int n, int v, int ignoreIndex, float gradScale,
                                       MemorySegment rowScale, int rowLen) {
        try {
            return (int) CROSS_ENTROPY_ROWS.invokeExact(losses, dlogits, logits, targets, n, v, ignoreIndex, gradScale,
                    rowScale, rowLen);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static int crossEntropy(MemorySegment losses, MemorySegment dlogits, MemorySegment logits,
                                   MemorySegment targets, int n, int v, int ignoreIndex, float gradScale) {
        try {
            return (int) CROSS_ENTROPY.invokeExact(losses, dlogits, logits, targets, n, v, ignoreIndex, gradScale);
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void adamw(MemorySegment p, MemorySegment g, MemorySegment m, MemorySegment v, long n,
                             float lr, float beta1, float beta2, float eps, float weightDecay, int step,
                             float gradScale) {
        try {
            ADAMW.invokeExact(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale);
        } catch (Throwable t) { throw rethrow(t); }
    }
}
