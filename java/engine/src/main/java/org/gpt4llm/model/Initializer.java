package org.gpt4llm.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
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

    /**
     * {@link #hfNormal(Map, long)} of the backend tensors {@code params}: generated on the host in fp32
     * (the same numbers on every backend), then uploaded.
     */
    static void hfNormal(org.gpt4llm.backend.Backend backend, Map<String, Tensor> params, long seed) {
        try (java.lang.foreign.Arena host = java.lang.foreign.Arena.ofShared()) { // shared: chunks are filled in parallel
            Map<String, Tensor> init = new java.util.LinkedHashMap<>();
            params.forEach((name, p) -> init.put(name, Tensor.allocate(host, DType.F32, p.shape())));
            hfNormal(init, seed);
            init.forEach((name, t) -> backend.upload(params.get(name), t));
        }
    }

    /** Fills host tensors of F32 or BF16 storage, zero-filled and named as HF names them, in place. */
    public static void hfNormal(Map<String, Tensor> params, long seed) {
        record Job(Tensor t, long tensorSeed, long chunk) {}
        List<Job> jobs = new ArrayList<>();
        int index = 0;
        for (var e : params.entrySet()) {
            Tensor t = e.getValue();
            if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
                throw new IllegalArgumentException("initialisation writes F32 or BF16, not " + t.dtype());
            }
            long tensorSeed = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (index++ + 1))).nextLong();
            if (t.rank() == 1) {
                if (!e.getKey().endsWith(".bias")) fillOnes(t); // biases stay 0
                continue;
            }
            for (long c = 0; c * CHUNK < t.numel(); c++) jobs.add(new Job(t, tensorSeed, c));
        }
        IntStream.range(0, jobs.size()).parallel().forEach(i -> {
            Job j = jobs.get(i);
            SplittableRandom rng = new SplittableRandom(j.tensorSeed() + j.chunk() * 0xBF58476D1CE4E5B9L);
            long start = j.chunk() * CHUNK, end = Math.min(j.t().numel(), start + CHUNK);
            MemorySegment d = j.t().data();
            for (long e = start; e < end; e++) {
                float v = (float) (gaussian(rng) * STD);
                if (j.t().dtype() == DType.F32) d.setAtIndex(ValueLayout.JAVA_FLOAT, e, v);
                else d.setAtIndex(ValueLayout.JAVA_SHORT, e, Precision.toBf16(v));
            }
        });
    }

    private static void fillOnes(Tensor t) {
        for (long e = 0; e < t.numel(); e++) {
            if (t.dtype() == DType.F32) t.data().setAtIndex(ValueLayout.JAVA_FLOAT, e, 1f);
            else t.data().setAtIndex(ValueLayout.JAVA_SHORT, e, Precision.toBf16(1f));
        }
    }

    /** Box-Muller on a splittable generator (java.util.Random's polar method is not splittable). */
    private static double gaussian(SplittableRandom rng) {
        double u1 = 1.0 - rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }
}
