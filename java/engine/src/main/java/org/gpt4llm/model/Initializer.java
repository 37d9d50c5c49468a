package org.gpt4llm.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import java.util.stream.LongStream;
import org.gpt4llm.io.Precision;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * HF's {@code _init_weights} for decoder-only models: matrices ~ normal(0, 0.02), norm weights 1,
 * biases 0 (tensors named {@code *.bias}).
 * Each tensor is filled in fixed 64K-element chunks with their own generator, seeded from
 * (seed, tensor index, chunk index), so the result is the same for any thread count.
 */
public final class Initializer {
    public static final double STD = 0.02;
    private static final int CHUNK = 1 << 16;

    private Initializer() {}

    /** Fills host tensors of F32, BF16 or F16 storage, zero-filled and named as HF names them, in place. */
    public static void hfNormal(Map<String, Tensor> params, long seed) {
        int index = 0;
        for (var e : params.entrySet()) fill(e.getKey(), e.getValue(), index++, seed);
    }

    /**
     * The values {@link #hfNormal(Map, long)} gives {@code params}, generated on the host in fp32 one tensor
     * at a time and handed to {@code upload(param, values)}: wherever the parameters live, only the largest
     * of them is ever held in fp32 beside them.
     */
    public static void hfNormal(Map<String, Tensor> params, long seed, BiConsumer<Tensor, Tensor> upload) {
        int index = 0;
        for (var e : params.entrySet()) {
            try (Arena host = Arena.ofShared()) { // shared: the chunks are filled in parallel
                Tensor values = Tensor.allocate(host, DType.F32, e.getValue().shape());
                fill(e.getKey(), values, index++, seed);
                upload.accept(e.getValue(), values);
            }
        }
    }

    /** Tensor number {@code index} of a model, {@code name} (a zero-filled host tensor), as initialised from {@code seed}. */
    private static void fill(String name, Tensor t, int index, long seed) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
            throw new IllegalArgumentException("initialisation writes F32, BF16 or F16, not " + t.dtype());
        }
        long tensorSeed = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (index + 1))).nextLong();
        if (t.rank() == 1) {
            if (!name.endsWith(".bias")) fillOnes(t); // biases stay 0
            return;
        }
        LongStream.range(0, (t.numel() + CHUNK - 1) / CHUNK).parallel().forEach(chunk -> {
            SplittableRandom rng = new SplittableRandom(tensorSeed + chunk * 0xBF58476D1CE4E5B9L);
            long start = chunk * CHUNK, end = Math.min(t.numel(), start + CHUNK);
            for (long e = start; e < end; e++) set(t, e, (float) (gaussian(rng) * STD));
        });
    }

    private static void fillOnes(Tensor t) {
        for (long e = 0; e < t.numel(); e++) set(t, e, 1f);
    }

    /** Element {@code e} of {@code t} = {@code v}, rounded to nearest (ties to even) in a half type. */
    private static void set(Tensor t, long e, float v) {
        MemorySegment d = t.data();
        switch (t.dtype()) {
            case F32 -> d.setAtIndex(ValueLayout.JAVA_FLOAT, e, v);
            case BF16 -> d.setAtIndex(ValueLayout.JAVA_SHORT, e, Precision.toBf16(v));
            default -> d.setAtIndex(ValueLayout.JAVA_SHORT, e, Float.floatToFloat16(v));
        }
    }

    /** Box-Muller on a splittable generator (java.util.Random's polar method is not splittable). */
    private static double gaussian(SplittableRandom rng) {
        double u1 = 1.0 - rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }
}
