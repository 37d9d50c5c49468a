package org.gpt4llm.backend.cuda.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.io.Precision;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Tensors on the emulated device for the launch tests of this package: what the Backend interface does
 * not reach (block counts, tile sizes, a launcher's own argument checks). Whether a kernel computes the
 * right values is the contract tests' business (module gpt4llm-reference), on every backend.
 */
final class EmuTensors {
    private EmuTensors() {}

    private static Device device;

    /** The emulated device, shared by the tests of this package. */
    static synchronized Device device() {
        if (device == null) device = new EmuDevice(2);
        return device;
    }

    /** v rounded to bf16: the values a BF16 tensor holds. */
    static float[] bf16(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.intBitsToFloat((Precision.toBf16(v[i]) & 0xffff) << 16);
        return out;
    }

    /** A device tensor of {@code dtype} (BF16 or F32) holding v (rounded when BF16). */
    static Tensor put(Arena arena, DType dtype, float[] v, long... shape) {
        Tensor t = device().allocate(arena, dtype, shape);
        MemorySegment host = arena.allocate(Math.max(1, t.byteSize()), 8);
        for (int i = 0; i < v.length; i++) {
            switch (dtype) {
                case F32 -> host.setAtIndex(ValueLayout.JAVA_FLOAT, i, v[i]);
                case BF16 -> host.setAtIndex(ValueLayout.JAVA_SHORT, i, Precision.toBf16(v[i]));
                default -> throw new IllegalArgumentException("floats into a " + dtype + " tensor");
            }
        }
        device().upload(t, host);
        return t;
    }

    static Tensor ints(Arena arena, int[] v, long... shape) {
        Tensor t = device().allocate(arena, DType.I32, shape);
        device().upload(t, MemorySegment.ofArray(v));
        return t;
    }

    /** The values of a BF16 or F32 device tensor. */
    static float[] get(Tensor t) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor host = Tensor.allocate(arena, t.dtype(), t.shape());
            device().download(host.data(), t);
            return host.toFloatArray();
        }
    }
}
