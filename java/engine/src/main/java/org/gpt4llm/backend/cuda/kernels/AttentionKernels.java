package org.gpt4llm.backend.cuda.kernels;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launchers of kernels/attention.cu (forward) and kernels/attention_backward.cu: causal
 * self-attention with GQA, padding and packed sequences, the same semantics as the CPU backend's
 * {@code attentionForward} / {@code attentionBackward} (see those kernel files for the math).
 *
 * <p>q, out, dout, dq BF16 [B,T,Hq,D]; k, v, dk, dv BF16 [B,T,Hkv,D]; lse F32 [B,Hq,T]; segments
 * I32 [B,T] or null. Head dims 64 and 128 run on tensor cores when the BF16 tensors are 16-byte
 * aligned (device allocations are); any other head dim up to 256, or an unaligned view, runs on
 * the generic kernels. Every output is overwritten.
 */
public final class AttentionKernels {
    private AttentionKernels() {}

    /** Threads of every attention block: 4 warps. */
    private static final int THREADS = 128;
    /** Queries per forward block and keys per backward block of the tensor-core kernels. */
    private static final int TILE = 64;
    /** Rows (queries or keys) per block of the generic kernels: one per warp. */
    private static final int ROWS = 4;
    /** Keys (or queries) per shared-memory chunk of the generic kernels: one per lane. */
    private static final int CHUNK = 32;
    /** The generic kernels keep D/32 accumulators per lane in registers, at most 8. */
    static final int MAX_HEAD_DIM = 256;
    /** Rows of the backward preprocess per block of 256 threads: one per warp. */
    private static final int PREPROCESS_ROWS = 8;
    private static final int CONVERT_THREADS = 256;

    /** out = softmax(scale q kᵀ + mask) v per query head; lse = the log of the softmax's denominator. */
    public static void attentionForward(Device d, Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments,
                                        AttentionShape s) {
        String op = "attention forward";
        checkInputs(op, s, q, k, v, segments);
        check(op, "out", out, DType.BF16, (long) s.batch() * s.seqLen() * s.heads() * s.headDim());
        check(op, "lse", lse, DType.F32, (long) s.batch() * s.heads() * s.seqLen());
        if (s.batch() == 0 || s.seqLen() == 0) return;
        int D = s.headDim();
        Object seg = segments == null ? Device.NULL : segments;
        if (tensorCores(D, out, q, k, v)) {
            d.launch("attention_forward_d" + D, new Dim3(blocks(s.seqLen(), TILE), s.heads(), s.batch()),
                    Dim3.of(THREADS), 2 * TILE * D * 2 + TILE * 4,
                    out, lse, q, k, v, seg, s.seqLen(), s.heads(), s.kvHeads(), s.scale());
        } else {
            int smem = ROWS * D * 4 + ROWS * CHUNK * 4 + CHUNK * 4 + CHUNK * oddStride(D) * 2 + CHUNK * D * 2;
            d.launch("attention_forward_generic", new Dim3(blocks(s.seqLen(), ROWS), s.heads(), s.batch()),
                    Dim3.of(THREADS), smem, out, lse, q, k, v, seg, s.seqLen(), s.heads(), s.kvHeads(), D, s.scale());
        }
    }

    /**
     * F32 elements of the scratch {@link #attentionBackward(Device, Tensor, Tensor, Tensor, Tensor, Tensor,
     * Tensor, Tensor, Tensor, Tensor, Tensor, AttentionShape, Tensor)} needs: delta [B,Hq,T] and the dq
     * accumulator [B,T,Hq,D].
     */
    public static long workspaceElements(AttentionShape s) {
        return (long) s.batch() * s.heads() * s.seqLen() * (1L + s.headDim());
    }

    /**
     * The backward with its scratch allocated here and freed before returning (after a
     * {@link Device#synchronize()}, since the kernels may still be queued on a GPU). A caller that
     * runs it every step, or captures it into a graph, passes a workspace instead.
     */
    public static void attentionBackward(Device d, Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                         Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s) {
        if (s.batch() == 0 || s.seqLen() == 0) {
            attentionBackward(d, dq, dk, dv, dout, out, lse, q, k, v, segments, s, null);
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor ws = d.allocateUninitialized(arena, DType.F32, workspaceElements(s));
            attentionBackward(d, dq, dk, dv, dout, out, lse, q, k, v, segments, s, ws);
            d.synchronize();
        }
    }

    /**
     * dq, dk, dv of the forward above given dout and its saved out and lse; dk/dv sum over the query
     * heads of each kv group. {@code workspace}: F32, at least {@link #workspaceElements} elements,
     * its contents need not be zero.
     */
    public static void attentionBackward(Device d, Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                         Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s,
                                         Tensor workspace) {
        String op = "attention backward";
        checkInputs(op, s, q, k, v, segments);
        long nq = (long) s.batch() * s.seqLen() * s.heads() * s.headDim();
        long nk = (long) s.batch() * s.seqLen() * s.kvHeads() * s.headDim();
        long rows = (long) s.batch() * s.heads() * s.seqLen();
        check(op, "dq", dq, DType.BF16, nq);
        check(op, "dk", dk, DType.BF16, nk);
        check(op, "dv", dv, DType.BF16, nk);
        check(op, "dout", dout, DType.BF16, nq);
        check(op, "out", out, DType.BF16, nq);
        check(op, "lse", lse, DType.F32, rows);
        if (s.batch() == 0 || s.seqLen() == 0) return;
        if (workspace == null || workspace.dtype() != DType.F32 || workspace.numel() < workspaceElements(s)) {
            throw new IllegalArgumentException(op + ": the workspace must be F32 with at least " + workspaceElements(s)
                    + " elements, got " + workspace);
        }
        int B = s.batch(), T = s.seqLen(), Hq = s.heads(), Hkv = s.kvHeads(), D = s.headDim();
        float scale = s.scale();
        Object seg = segments == null ? Device.NULL : segments;
        Tensor delta = slice(workspace, 0, rows);
        boolean tc = tensorCores(D, q, k, v, dout, out, dq, dk, dv);
        Tensor acc = tc ? slice(workspace, rows, nq) : null;

        d.launch("attention_backward_preprocess", Dim3.of(blocks(rows, PREPROCESS_ROWS)), Dim3.of(32 * PREPROCESS_ROWS), 0,
                delta, tc ? acc : Device.NULL, dout, out, B, T, Hq, D);
        if (tc) {
            int bq = D == 64 ? 64 : 32;  // the query tile of attention_backward_d64 / _d128
            d.launch("attention_backward_d" + D, new Dim3(blocks(T, TILE), Hkv, B), Dim3.of(THREADS),
                    (2 * TILE + 2 * bq) * D * 2, dk, dv, acc, dout, lse, delta, q, k, v, seg, T, Hq, Hkv, scale);
            d.launch("attention_backward_dq", Dim3.of(blocks(nq, CONVERT_THREADS)), Dim3.of(CONVERT_THREADS), 0,
                    dq, acc, nq);
        } else {
            int chunks = 2 * CHUNK * oddStride(D) * 2;
            d.launch("attention_backward_generic_dkdv", new Dim3(blocks(T, ROWS), Hkv, B), Dim3.of(THREADS),
                    2 * ROWS * D * 4 + 3 * CHUNK * 4 + 2 * ROWS * CHUNK * 4 + chunks, dk, dv, dout, lse, delta, q, k, v, seg, T, Hq, Hkv, D, scale);
            d.launch("attention_backward_generic_dq", new Dim3(blocks(T, ROWS), Hq, B), Dim3.of(THREADS),
                    2 * ROWS * D * 4 + ROWS * CHUNK * 4 + CHUNK * 4 + chunks, dq, dout, lse, delta, q, k, v, seg, T, Hq, Hkv, D, scale);
        }
    }

    // ---- geometry and checks ----------------------------------------------------------------------

    /**
     * Tensor-core kernels exist for D = 64 and 128 and load 16-byte chunks (q, k, v, dout) and store
     * bf16 pairs (out, dq, dk, dv): every tensor must start 16-byte aligned.
     */
    static boolean tensorCores(int D, Tensor... bf16) {
        if (D != 64 && D != 128) return false;
        for (Tensor t : bf16) {
            if (t.data().address() % 16 != 0) return false;
        }
        return true;
    }

    /** Row stride (elements) of the generic kernels' shared chunks: an odd number of 32-bit words. */
    static int oddStride(int D) {
        return 2 * (((D + 1) / 2) | 1);
    }

    private static int blocks(long n, int per) {
        long b = (n + per - 1) / per;
        if (b > Integer.MAX_VALUE) throw new IllegalArgumentException("attention: " + n + " rows need too many blocks");
        return (int) b;
    }

    private static Tensor slice(Tensor t, long start, long n) {
        return Tensor.wrap(t.data().asSlice(start * Float.BYTES, n * Float.BYTES), DType.F32, n);
    }

    private static void checkInputs(String op, AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor segments) {
        if (s.batch() < 0 || s.seqLen() < 0 || s.heads() < 1 || s.kvHeads() < 1 || s.headDim() < 1) {
            throw new IllegalArgumentException(op + ": bad shape " + s);
        }
        if (s.headDim() > MAX_HEAD_DIM) {
            throw new IllegalArgumentException(op + ": head dim " + s.headDim() + " is above the " + MAX_HEAD_DIM
                    + " the CUDA attention kernels support");
        }
        if (s.heads() > 65535 || s.batch() > 65535) {
            throw new IllegalArgumentException(op + ": " + s.heads() + " heads x batch " + s.batch()
                    + " exceeds the launch grid (65535 each)");
        }
        long nq = (long) s.batch() * s.seqLen() * s.heads() * s.headDim();
        long nk = (long) s.batch() * s.seqLen() * s.kvHeads() * s.headDim();
        check(op, "q", q, DType.BF16, nq);
        check(op, "k", k, DType.BF16, nk);
        check(op, "v", v, DType.BF16, nk);
        if (segments != null) check(op, "segments", segments, DType.I32, (long) s.batch() * s.seqLen());
    }

    private static void check(String op, String what, Tensor t, DType dtype, long numel) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is missing");
        if (t.dtype() != dtype || t.numel() != numel) {
            throw new IllegalArgumentException(op + ": " + what + " must be " + dtype + " with " + numel
                    + " elements, got " + t);
        }
    }
}
