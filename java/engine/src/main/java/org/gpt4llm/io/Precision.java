package org.gpt4llm.io;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * F32 ⇄ F16/BF16 conversion of whole tensors in plain Java, in chunks through heap arrays so the
 * inner loops are simple array loops the JIT vectorises.
 *
 * <pre>
 *   bf16 → f32   bits << 16 (exact)
 *   f16  → f32   Float.float16ToFloat (exact)
 *   f32  → bf16  round to nearest, ties to even on the upper 16 bits; NaN → 0x7FC0 (as torch)
 *   f32  → f16   Float.floatToFloat16 (round to nearest even, overflow to ±inf)
 * </pre>
 */
public final class Precision {
    private static final int CHUNK = 1 << 16;

    private Precision() {
    }

    static Tensor toF32(Tensor t, Arena arena) {
        Tensor out = Tensor.allocate(arena, DType.F32, t.shape());
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(t.data(), 0, out.data(), 0, t.byteSize());
            case F16, BF16 -> widen(t.data(), out.data(), t.numel(), t.dtype() == DType.BF16);
            default -> throw new IllegalArgumentException("toF32 needs an F32, F16 or BF16 tensor, not " + t);
        }
        return out;
    }

    static Tensor fromF32(Tensor f32, DType target, Arena arena) {
        if (f32.dtype() != DType.F32) {
            throw new IllegalArgumentException("fromF32 needs an F32 tensor, not " + f32);
        }
        Tensor out = Tensor.allocate(arena, target, f32.shape());
        switch (target) {
            case F32 -> MemorySegment.copy(f32.data(), 0, out.data(), 0, f32.byteSize());
            case F16, BF16 -> narrow(f32.data(), out.data(), f32.numel(), target == DType.BF16);
            default -> throw new IllegalArgumentException("fromF32 converts to F32, F16 or BF16, not " + target);
        }
        return out;
    }

    private static void widen(MemorySegment src, MemorySegment dst, long n, boolean bf16) {
        short[] in = new short[(int) Math.min(n, CHUNK)];
        float[] out = new float[in.length];
        for (long base = 0; base < n; base += CHUNK) {
            int len = (int) Math.min(CHUNK, n - base);
            MemorySegment.copy(src, ValueLayout.JAVA_SHORT_UNALIGNED, base * 2, in, 0, len);
            if (bf16) {
                for (int i = 0; i < len; i++) out[i] = Float.intBitsToFloat((in[i] & 0xffff) << 16);
            } else {
                for (int i = 0; i < len; i++) out[i] = Float.float16ToFloat(in[i]);
            }
            MemorySegment.copy(out, 0, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, base * 4, len);
        }
    }

    private static void narrow(MemorySegment src, MemorySegment dst, long n, boolean bf16) {
        float[] in = new float[(int) Math.min(n, CHUNK)];
        short[] out = new short[in.length];
        for (long base = 0; base < n; base += CHUNK) {
            int len = (int) Math.min(CHUNK, n - base);
            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED, base * 4, in, 0, len);
            if (bf16) {
                for (int i = 0; i < len; i++) out[i] = toBf16(in[i]);
            } else {
                for (int i = 0; i < len; i++) out[i] = Float.floatToFloat16(in[i]);
            }
            MemorySegment.copy(out, 0, dst, ValueLayout.JAVA_SHORT_UNALIGNED, base * 2, len);
        }
    }

    /** f32 → bf16 bits, round to nearest even; overflow rounds to ±inf, NaN becomes the quiet NaN 0x7FC0. */
    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) 0x7fc0;
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7fff + lsb) >>> 16);
    }
}
