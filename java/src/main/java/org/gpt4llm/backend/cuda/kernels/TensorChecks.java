package org.gpt4llm.backend.cuda.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.backend.cuda.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/** Argument checks and launch arithmetic shared by the kernel launchers. */
final class TensorChecks {
    private TensorChecks() {}

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
