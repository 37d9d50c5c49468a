package org.gpt4llm.backend.cuda.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.Stream;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.io.Precision;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.junit.jupiter.params.provider.Arguments;

/**
 * Tensors on the device under test for the launch tests of this package: what the Backend interface
 * does not reach (block counts, tile sizes, a launcher's own argument checks), on every present
 * {@link DeviceKind} (the emulation always, the GPU where there is one). Whether a kernel computes
 * the right values is the contract tests' business (module gpt4llm-reference), on every backend.
 */
final class DeviceTensors {
    private final DeviceKind kind;

    private DeviceTensors(DeviceKind kind) {
        this.kind = kind;
    }

    /** Every present device: the arguments of a launch test. */
    static Stream<DeviceTensors> all() {
        return DeviceKind.all().map(DeviceTensors::new);
    }

    /** Every present device with every case, the device first. */
    static Stream<Arguments> crossed(Object[]... cases) {
        return all().flatMap(on -> Stream.of(cases).map(c -> {
            Object[] args = new Object[c.length + 1];
            args[0] = on;
            System.arraycopy(c, 0, args, 1, c.length);
            return Arguments.of(args);
        }));
    }

    /** The device, one per kind for the JVM, shared by the tests of this package. */
    Device device() {
        return kind.shared();
    }

    /** v rounded to bf16: the values a BF16 tensor holds. */
    static float[] bf16(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.intBitsToFloat((Precision.toBf16(v[i]) & 0xffff) << 16);
        return out;
    }

    /** A device tensor of {@code dtype} (BF16 or F32) holding v (rounded when BF16). */
    Tensor put(Arena arena, DType dtype, float[] v, long... shape) {
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

    /** A one-element F32 tensor holding v: a step's value as a kernel reads it from device memory. */
    Tensor scalar(Arena arena, float v) {
        return put(arena, DType.F32, new float[] {v}, 1);
    }

    Tensor ints(Arena arena, int[] v, long... shape) {
        Tensor t = device().allocate(arena, DType.I32, shape);
        device().upload(t, MemorySegment.ofArray(v));
        return t;
    }

    /** The values of a BF16 or F32 device tensor. */
    float[] get(Tensor t) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor host = Tensor.allocate(arena, t.dtype(), t.shape());
            device().download(host.data(), t);
            return host.toFloatArray();
        }
    }

    @Override
    public String toString() {
        return kind.toString();
    }
}
