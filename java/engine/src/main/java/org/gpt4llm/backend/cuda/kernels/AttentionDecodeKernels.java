package org.gpt4llm.backend.cuda.kernels;

import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launchers of kernels/attention_decode.cu: appending new key/value rows to a KV cache and attention
 * of new queries against it, the semantics of the CPU backend's {@code kvCacheWrite} /
 * {@code attentionDecode} (see the kernel file for the math).
 *
 * <p>cache, kCache, vCache BF16 [B, maxLength, Hkv*D]; src BF16 [B, Tq, Hkv*D]; q, out BF16
 * [B, Tq, Hq*D]; lengths I32 [B]. Head dims up to 256.
 */
public final class AttentionDecodeKernels {
    private AttentionDecodeKernels() {}

    /** Threads of an attention_decode block: ATTENTION_DECODE_WARPS warps. */
    private static final int THREADS = 128;
    /** Threads of a cache-write block: one per element of a row, up to this many. */
    private static final int WRITE_THREADS = 256;
    /** Each lane keeps ATTENTION_DECODE_MAX_D / 32 query and accumulator values in registers. */
    static final int MAX_HEAD_DIM = 256;
    /** The y and z dimensions of a launch grid. */
    private static final int MAX_GRID_YZ = 65535;

    public static void kvCacheWrite(Device d, Tensor cache, Tensor src, Tensor lengths, DecodeShape s) {
        String op = "kv cache write";
        checkShape(op, s, lengths);
        check(op, "cache", cache, DType.BF16, (long) s.batch() * s.maxLength() * s.kvWidth());
        check(op, "src", src, DType.BF16, (long) s.batch() * s.newTokens() * s.kvWidth());
        if (s.batch() == 0 || s.newTokens() == 0) return;
        int width = KernelArgs.toInt(op, "row width", s.kvWidth());
        d.launch("attention_decode_cache_write", Dim3.of(s.newTokens(), s.batch()),
                Dim3.of(Math.min(WRITE_THREADS, (width + 31) / 32 * 32)), 0,
                cache, src, lengths, s.newTokens(), s.maxLength(), width);
    }

    public static void attentionDecode(Device d, Tensor out, Tensor q, Tensor kCache, Tensor vCache, Tensor lengths,
                                       DecodeShape s) {
        String op = "attention decode";
        checkShape(op, s, lengths);
        if (s.headDim() > MAX_HEAD_DIM) {
            throw new IllegalArgumentException(op + ": head dim " + s.headDim() + " is above the " + MAX_HEAD_DIM
                    + " the CUDA decode kernel supports");
        }
        if (s.heads() > MAX_GRID_YZ) {
            throw new IllegalArgumentException(op + ": " + s.heads() + " heads exceed the launch grid (" + MAX_GRID_YZ + ")");
        }
        long nq = (long) s.batch() * s.newTokens() * s.heads() * s.headDim();
        long nc = (long) s.batch() * s.maxLength() * s.kvWidth();
        check(op, "q", q, DType.BF16, nq);
        check(op, "out", out, DType.BF16, nq);
        check(op, "k cache", kCache, DType.BF16, nc);
        check(op, "v cache", vCache, DType.BF16, nc);
        if (s.batch() == 0 || s.newTokens() == 0) return;
        d.launch("attention_decode", new Dim3(s.newTokens(), s.heads(), s.batch()), Dim3.of(THREADS), 0,
                out, q, kCache, vCache, lengths, s.newTokens(), s.maxLength(), s.heads(), s.kvHeads(), s.headDim(),
                s.scale());
    }

    private static void checkShape(String op, DecodeShape s, Tensor lengths) {
        if (s.batch() > MAX_GRID_YZ) {
            throw new IllegalArgumentException(op + ": batch " + s.batch() + " exceeds the launch grid (" + MAX_GRID_YZ + ")");
        }
        check(op, "lengths", lengths, DType.I32, s.batch());
    }

    private static void check(String op, String what, Tensor t, DType dtype, long numel) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is missing");
        if (t.dtype() != dtype || t.numel() != numel) {
            throw new IllegalArgumentException(op + ": " + what + " must be " + dtype + " with " + numel
                    + " elements, got " + t);
        }
    }
}
