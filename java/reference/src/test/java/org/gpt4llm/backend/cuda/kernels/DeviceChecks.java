package org.gpt4llm.backend.cuda.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Data in and out of the emulated device for the kernel tests, and the tolerances of bf16 kernels
 * (comparison and error reporting are {@link org.gpt4llm.backend.cpu.KernelChecks}'s).
 */
final class DeviceChecks {
    private DeviceChecks() {}

    /**
     * A BF16 output computed in fp32 and rounded once: bf16 keeps 8 significant bits, so every
     * element is within half an ulp, at most 2^-8 = 3.9e-3 relative, of the fp32 value, and so is
     * the relative norm error (plus fp32 noise, ~1e-6). Over many elements it is about 1.5e-3 (the
     * rounding error is uniform within the ulp); a single element can reach the bound, so 5e-3
     * leaves room for the fp32 noise on top. A wrong term, index or lost accumulation shows up far
     * above this (0.03 to 1 in mutation runs).
     */
    static final double BF16_TOL = 5e-3;

    /**
     * An F32 output computed from the same bf16 inputs as the fp32 reference: only the order of
     * the fp32 sums differs (rows of a few thousand terms at most), a few ulps of 2^-24 each.
     */
    static final double F32_TOL = 1e-4;

    /**
     * An F32 output of short fp32 reductions (a loss, an optimizer update, a sum over a rank-r
     * product) from the same bf16-exact inputs as the reference: a few ulps.
     */
    static final double F32_SHORT_SUM_TOL = 1e-5;

    /** A single scalar rounded to bf16 (nearest, ties to even). */
    static float bf16(float v) {
        return Float.intBitsToFloat(bf16Bits(v) << 16);
    }

    private static Device device;

    /** The emulated device, shared by the tests of this package. */
    static synchronized Device device() {
        if (device == null) device = new EmuDevice();
        return device;
    }

    /** v rounded to bf16 (nearest, ties to even): the values every kernel input holds. */
    static float[] bf16(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.intBitsToFloat(bf16Bits(v[i]) << 16);
        return out;
    }

    /** The bf16 bits of f, rounded to nearest even (overflow to infinity, NaN to the quiet NaN). */
    static int bf16Bits(float f) {
        if (Float.isNaN(f)) return 0x7fc0;
        int u = Float.floatToRawIntBits(f);
        return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }

    /** A device tensor of {@code dtype} (BF16 or F32) holding v (rounded when BF16). */
    static Tensor upload(Arena arena, DType dtype, float[] v, long... shape) {
        Tensor t = device().allocate(arena, dtype, shape);
        MemorySegment host = arena.allocate(Math.max(1, t.byteSize()), 8);
        for (int i = 0; i < v.length; i++) {
            switch (dtype) {
                case F32 -> host.setAtIndex(ValueLayout.JAVA_FLOAT, i, v[i]);
                case BF16 -> host.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) bf16Bits(v[i]));
                default -> throw new IllegalArgumentException("upload of floats as " + dtype);
            }
        }
        device().upload(t, host);
        return t;
    }

    /**
     * A 1-D device tensor holding v that starts one element past an aligned address, so kernels
     * take their one-element-at-a-time path.
     */
    static Tensor misaligned(Arena arena, DType dtype, float[] v) {
        float[] padded = new float[v.length + 1];
        System.arraycopy(v, 0, padded, 1, v.length);
        Tensor t = upload(arena, dtype, padded, padded.length);
        return Tensor.wrap(t.data().asSlice(dtype.bytes(), (long) v.length * dtype.bytes()), dtype, v.length);
    }

    static Tensor bf16(Arena arena, float[] v, long... shape) {
        return upload(arena, DType.BF16, v, shape);
    }

    static Tensor f32(Arena arena, float[] v, long... shape) {
        return upload(arena, DType.F32, v, shape);
    }

    static Tensor ints(Arena arena, int[] v, long... shape) {
        Tensor t = device().allocate(arena, DType.I32, shape);
        device().upload(t, MemorySegment.ofArray(v));
        return t;
    }

    /** The values of a BF16 or F32 device tensor. */
    static float[] download(Tensor t) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor host = Tensor.allocate(arena, t.dtype(), t.shape());
            device().download(host.data(), t);
            return host.toFloatArray();
        }
    }
}
