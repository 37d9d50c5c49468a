package org.gpt4llm.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.memory.MemoryLedger;
import org.gpt4llm.tensor.DType;

/**
 * GEMMs of many rows against half-precision (BF16, F16) weights W: W is widened to fp32 one panel of
 * its rows at a time, into a buffer of the calling thread, and each panel goes to sgemm. No fp32 copy
 * of W outlives the call, and widening costs O(size of W) beside the GEMM's O(rows x size of W).
 */
final class HalfWeightGemm {
    /** fp32 elements of a panel (4 MiB): big enough for sgemm to run near its peak, small beside any weight. */
    static final long PANEL_ELEMENTS = 1L << 20;

    /** Each calling thread's panel buffer, grown to the largest panel it has needed. */
    private final ThreadLocal<MemorySegment> panels = new ThreadLocal<>();
    private final MemoryLedger memory;

    HalfWeightGemm(MemoryLedger memory) {
        this.memory = memory;
    }

    /** Sgemm of one panel: {@code C = alpha * op(A) op(panel) + beta * C} in OpenBLAS's arguments. */
    interface Sgemm {
        void run(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, int lda,
                 MemorySegment b, int ldb, float beta, MemorySegment c, int ldc);
    }

    /**
     * {@code C[m,n] = alpha * A[m,k] op(W) + beta * C} with W half precision, row-major and dense:
     * W is [n, k] when {@code transW} (y = x Wᵀ, a linear layer's forward), else [k, n] (dx = dy W, its backward).
     * A may be transposed (A stored [k, m]).
     */
    void run(MemorySegment c, MemorySegment a, boolean transA, int lda, MemorySegment w, DType wType, boolean transW,
             int m, int n, int k, float alpha, float beta, Sgemm sgemm) {
        int width = transW ? k : n; // the length of one row of W
        int panelRows = (int) Math.max(1, Math.min(transW ? n : k, PANEL_ELEMENTS / Math.max(1, width)));
        MemorySegment panel = panel((long) panelRows * width * Float.BYTES);
        long half = wType.bytes();
        if (transW) {
            // W's rows are output columns: each panel fills its own columns of C
            for (int n0 = 0; n0 < n; n0 += panelRows) {
                int rows = Math.min(panelRows, n - n0);
                widen(panel, w.asSlice((long) n0 * k * half, (long) rows * k * half), wType, (long) rows * k);
                sgemm.run(transA, true, m, rows, k, alpha, a, lda, panel, k, beta,
                        c.asSlice((long) n0 * Float.BYTES), n);
            }
        } else {
            // W's rows are the inner dimension: the panels' products add up in C, beta only on the first
            for (int k0 = 0; k0 < k; k0 += panelRows) {
                int rows = Math.min(panelRows, k - k0);
                widen(panel, w.asSlice((long) k0 * n * half, (long) rows * n * half), wType, (long) rows * n);
                long aOffset = (transA ? (long) k0 * lda : k0) * Float.BYTES;
                sgemm.run(transA, false, m, n, rows, alpha, a.asSlice(aOffset), lda, panel, n,
                        k0 == 0 ? beta : 1f, c, n);
            }
        }
    }

    /** {@code count} half-precision values of {@code src} (BF16 or F16) as fp32 into {@code dst}. */
    static void widen(MemorySegment dst, MemorySegment src, DType type, long count) {
        if (type == DType.BF16) {
            CpuKernels.bf16ToF32(dst, src, count);
        } else if (type == DType.F16) {
            CpuKernels.f16ToF32(dst, src, count);
        } else {
            throw new IllegalArgumentException("half-precision weights must be BF16 or F16, got " + type);
        }
    }

    /** This thread's buffer of at least {@code bytes}, counted as workspace while it lives. */
    private MemorySegment panel(long bytes) {
        MemorySegment p = panels.get();
        if (p != null && p.byteSize() >= bytes) return p;
        Arena arena = Arena.ofAuto(); // freed with its thread's ThreadLocal entry
        MemorySegment fresh = arena.allocate(bytes, 64);
        if (p != null) memory.freed(MemoryLedger.Side.DEVICE, MemoryCategory.WORKSPACE, p.byteSize());
        memory.allocated(MemoryLedger.Side.DEVICE, MemoryCategory.WORKSPACE, bytes);
        panels.set(fresh);
        return fresh;
    }
}
