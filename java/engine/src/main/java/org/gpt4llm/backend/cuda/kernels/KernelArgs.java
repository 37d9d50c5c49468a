package org.gpt4llm.backend.cuda.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Argument checks and launch geometry shared by the launcher classes. Every check throws an
 * {@link IllegalArgumentException} naming the op and the offending tensor, before anything is
 * launched: a kernel has no way to report a bad shape and would read or write out of bounds.
 */
final class KernelArgs {
    private KernelArgs() {}

    /** Threads per block of the element-wise kernels. */
    static final int ELEMENTWISE_THREADS = 256;
    /** At most this many threads per row block: enough to stream a row, few enough to keep several blocks per SM. */
    static final int MAX_ROW_THREADS = 256;
    /** Elements one thread moves per 16-byte access (8 bf16). */
    static final int PACK = 8;
    /** Dynamic shared memory a launch may use without opting in to more (the same on sm_80 and sm_90). */
    static final int MAX_DYNAMIC_SMEM = 48 * 1024;
    /** The grid-stride loops cover any n with at most this many blocks. */
    private static final int MAX_GRID = 1 << 16;

    static Tensor dtype(String op, String what, Tensor t, DType want) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is missing");
        if (t.dtype() != want) throw new IllegalArgumentException(op + ": " + what + " must be " + want + ", got " + t);
        return t;
    }

    static void sameSize(String op, String what, Tensor t, Tensor like) {
        if (t.numel() != like.numel()) {
            throw new IllegalArgumentException(op + ": " + what + " " + t + " does not match " + like);
        }
    }

    static int toInt(String op, String what, long v) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": " + what + " " + v + " is too large for a kernel");
        return (int) v;
    }

    /** Rows of {@code x} when its last dimension is {@code c} elements long (C = weight size). */
    static int rows(String op, Tensor x, long c) {
        if (c < 1 || x.numel() % c != 0) {
            throw new IllegalArgumentException(op + ": " + x + " is not made of rows of " + c + " elements");
        }
        return toInt(op, "row count", x.numel() / c);
    }

    /**
     * Threads of a block that walks a row of {@code elements}: one per 16-byte pack of 8 when the
     * kernel goes in packs (it does when its rows are whole packs and aligned), else one per
     * element, rounded up to whole warps (block reductions need them) and capped at
     * {@link #MAX_ROW_THREADS}.
     */
    static Dim3 rowBlock(long elements, boolean packs) {
        long perThread = packs ? PACK : 1;
        long threads = (elements + perThread - 1) / perThread;
        threads = Math.min(MAX_ROW_THREADS, Math.max(32, (threads + 31) / 32 * 32));
        return Dim3.of((int) threads);
    }

    /** {@link #rowBlock(long, boolean)} for rows of C elements: they go in packs when C is a multiple of 8. */
    static Dim3 rowBlock(long c) {
        return rowBlock(c, c % PACK == 0);
    }

    /** Blocks of {@link #ELEMENTWISE_THREADS} for a grid-stride loop over n elements, 8 per thread. */
    static Dim3 elementwiseGrid(long n) {
        long perBlock = (long) ELEMENTWISE_THREADS * PACK;
        return Dim3.of((int) Math.max(1, Math.min(MAX_GRID, (n + perBlock - 1) / perBlock)));
    }

    static Dim3 elementwiseBlock() {
        return Dim3.of(ELEMENTWISE_THREADS);
    }

    /** Dynamic shared memory of {@code floats} floats, refused beyond what a plain launch may have. */
    static int sharedFloats(String op, long floats, String limitHint) {
        long bytes = floats * Float.BYTES;
        if (bytes > MAX_DYNAMIC_SMEM) {
            throw new IllegalArgumentException(op + ": needs " + bytes + " bytes of shared memory, more than the "
                    + MAX_DYNAMIC_SMEM + " a launch may use (" + limitHint + ")");
        }
        return (int) bytes;
    }

    // ---- forms without an op name, for messages whose "what" already names the op ----

    /** {@code t} itself, after checking its dtype; {@code what} names it in the message. */
    static Tensor dtype(Tensor t, DType want, String what) {
        if (t == null) throw new IllegalArgumentException(what + " is required");
        if (t.dtype() != want) throw new IllegalArgumentException(what + " must be " + want + ", got " + t);
        return t;
    }

    /** A kernel pointer argument for a tensor that may be absent: the tensor, or NULL. */
    static Object orNull(Tensor t) {
        return t == null ? Device.NULL : t;
    }

    static void numel(Tensor t, long want, String what) {
        if (t.numel() != want) {
            throw new IllegalArgumentException(what + " " + t + " should hold " + want + " elements");
        }
    }

    static int toInt(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(what + " too large for a kernel: " + v);
        return (int) v;
    }

    static int ceilDiv(long a, long b) {
        return toInt((a + b - 1) / b, "grid");
    }

    /** The values of an I32 device tensor, copied to the host. */
    static int[] downloadInts(Device d, Tensor t) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(t.byteSize(), 4);
            d.download(host, t);
            return host.toArray(ValueLayout.JAVA_INT);
        }
    }

    /** The values of an F32 device tensor, copied to the host. */
    static float[] downloadFloats(Device d, Tensor t) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(t.byteSize(), 4);
            d.download(host, t);
            return host.toArray(ValueLayout.JAVA_FLOAT);
        }
    }
}
