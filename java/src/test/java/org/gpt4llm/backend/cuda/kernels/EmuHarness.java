package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.gpt4llm.backend.cuda.Device;
import org.gpt4llm.backend.cuda.EmuDevice;
import org.gpt4llm.peer.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;

/**
 * Plumbing of the emulated kernel tests: one emulated device, bf16 rounding on the host (the
 * reference gets the very values the kernels read), uploads and downloads, and relative-error
 * checks whose largest value per quantity each test class prints.
 */
final class EmuHarness {
    private EmuHarness() {}

    static final Device DEVICE = new EmuDevice();

    /**
     * bf16 outputs: round-to-nearest-even to 8 significant bits has a relative error of at most
     * u = 2^-8 (3.9e-3) per element, so the norm-wise error of an output whose only difference from
     * the fp32 reference is that final rounding stays below u; 5e-3 leaves room for fp32 noise.
     */
    static final double BF16_OUT_TOL = 5e-3;

    /**
     * fp32 outputs computed from the same (bf16-exact) inputs as the reference: only the fp32
     * summation order differs, a few ulps over the reduction lengths used here.
     */
    static final double FP32_OUT_TOL = 1e-5;

    private static final Map<String, Double> MAX_ERR = new TreeMap<>();

    /** {@code x} rounded to the nearest bf16 (ties to even), as a float. */
    static float bf16(float x) {
        return Float.intBitsToFloat(bf16Bits(x) << 16);
    }

    static float[] bf16(float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = bf16(x[i]);
        return r;
    }

    private static int bf16Bits(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (bits >>> 16) | 0x40;  // quiet NaN, sign kept
        return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }

    /** A device BF16 tensor holding {@code values} rounded to bf16. */
    static Tensor uploadBf16(Arena arena, float[] values, long... shape) {
        Tensor host = Tensor.allocate(arena, DType.BF16, shape);
        for (int i = 0; i < values.length; i++) host.data().setAtIndex(ValueLayout.JAVA_SHORT, i, (short) bf16Bits(values[i]));
        Tensor dev = DEVICE.allocate(arena, DType.BF16, shape);
        DEVICE.upload(dev, host.data());
        return dev;
    }

    static Tensor uploadF32(Arena arena, float[] values, long... shape) {
        Tensor dev = DEVICE.allocate(arena, DType.F32, shape);
        DEVICE.upload(dev, Tensor.of(arena, values, shape).data());
        return dev;
    }

    static Tensor uploadI32(Arena arena, int[] values, long... shape) {
        Tensor dev = DEVICE.allocate(arena, DType.I32, shape);
        DEVICE.upload(dev, Tensor.ofInts(arena, values, shape).data());
        return dev;
    }

    /** A device tensor's values as floats (BF16 widened exactly). */
    static float[] download(Tensor dev) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(dev.byteSize(), 8);
            DEVICE.download(host, dev);
            return Tensor.wrap(host, dev.dtype(), dev.shape()).toFloatArray();
        }
    }

    static void record(String what, double err) {
        synchronized (MAX_ERR) {
            MAX_ERR.merge(what, err, Math::max);
        }
    }

    /** Asserts relErr(ours, ref) < tol and records it under {@code what}. */
    static double assertClose(String what, float[] ours, float[] ref, double tol, String context) {
        double err = Numerics.relErr(ours, ref);
        record(what, err);
        assertTrue(err < tol, what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /**
     * Like {@link #assertClose} but measures the error against the larger of ||ref|| and ||scale||:
     * for a result that is a difference of larger terms (a loss lse - x_t with logits near 300)
     * rounding is only meaningful relative to the terms.
     */
    static double assertCloseScaled(String what, float[] ours, float[] ref, float[] scale, double tol, String context) {
        double num = 0, den = 0, sc = 0;
        for (int i = 0; i < ours.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
            sc += (double) scale[i] * scale[i];
        }
        double err = Math.sqrt(num / Math.max(den, sc));
        record(what, err);
        assertTrue(err < tol, what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /** Prints the largest error recorded for each quantity whose name starts with {@code prefix}. */
    static void report(String prefix) {
        synchronized (MAX_ERR) {
            MAX_ERR.forEach((k, v) -> {
                if (k.startsWith(prefix)) System.out.printf("max relative error %-30s %.3e%n", k, v);
            });
        }
    }

    /** A float32 libtorch leaf that records gradients. */
    static org.bytedeco.pytorch.Tensor leaf(float[] v, long... shape) {
        org.bytedeco.pytorch.Tensor t = Torch.floats(v, shape);
        t.requires_grad_(true);
        return t;
    }

    /** Backpropagates {@code upstream} (same shape as {@code out}) through libtorch's graph. */
    static void backward(org.bytedeco.pytorch.Tensor out, float[] upstream) {
        out.backward(Torch.floats(upstream, out.shape()), new BoolOptional(), false, new TensorArrayRefOptional());
    }
}
