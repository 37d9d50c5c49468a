package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * g4_kv_cache_write and g4_attention_decode on fresh random caches (every position filled, so a
 * read past a row's length shows): the write against a plain copy, the attention against a libtorch
 * masked softmax ({@link KernelChecks#attentionDecodeReference}), through both SIMD paths; GQA, odd
 * head dims, rows of different lengths, single steps (Tq = 1) and prefills with left padding (Tq > 1).
 */
class AttentionDecodeTest {
    private static CpuBackend backend;

    /** {@code lengths} per row after this call; a length below Tq left-pads the row. */
    record Case(int tq, int tmax, int hq, int hkv, int d, int[] lengths) {
        @Override
        public String toString() {
            return "Tq=" + tq + " Tmax=" + tmax + " Hq=" + hq + " Hkv=" + hkv + " D=" + d + " lengths="
                    + java.util.Arrays.toString(lengths);
        }
    }

    @BeforeAll
    static void setUp() {
        backend = new CpuBackend(2);
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("decode");
    }

    static Stream<Arguments> cases() {
        List<Case> cs = List.of(
                new Case(1, 40, 4, 2, 10, new int[] {1, 17, 40}),
                new Case(1, 130, 3, 3, 8, new int[] {130, 65}),
                new Case(1, 70, 8, 1, 64, new int[] {69, 2, 33}),
                new Case(5, 70, 6, 2, 64, new int[] {5, 70, 3}),
                new Case(7, 9, 2, 1, 20, new int[] {7}),
                new Case(13, 13, 4, 2, 13, new int[] {13, 1, 8}));
        List<Arguments> out = new ArrayList<>();
        for (String path : new String[] {"simd", "scalar"}) for (Case c : cs) out.add(Arguments.of(c, path));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesLibtorch(Case c, String path) {
        long seed = TestSeeds.next();
        String context = "seed " + seed + ", " + c + ", " + path;
        Random rng = new Random(seed);
        int B = c.lengths.length;
        DecodeShape s = new DecodeShape(B, c.tq, c.tmax, c.hq, c.hkv, c.d, (float) (1.0 / Math.sqrt(c.d)));
        int w = (int) s.kvWidth();
        float[] kc = Numerics.normal(rng, B * c.tmax * w, 1f), vc = Numerics.normal(rng, B * c.tmax * w, 1f);
        float[] kNew = Numerics.normal(rng, B * c.tq * w, 1f), vNew = Numerics.normal(rng, B * c.tq * w, 1f);
        float[] q = Numerics.normal(rng, B * c.tq * c.hq * c.d, 1f);
        KernelChecks.onPath(path.equals("scalar"), () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tk = Tensor.of(arena, kc, B, c.tmax, w), tv = Tensor.of(arena, vc, B, c.tmax, w);
                Tensor lengths = Tensor.ofInts(arena, c.lengths, B);
                Tensor out = Tensor.allocate(arena, DType.F32, B, c.tq, c.hq * c.d);
                backend.kvCacheWrite(tk, Tensor.of(arena, kNew, B, c.tq, w), lengths, s);
                backend.kvCacheWrite(tv, Tensor.of(arena, vNew, B, c.tq, w), lengths, s);
                float[] kRef = KernelChecks.kvCacheWriteReference(kc, kNew, c.lengths, s);
                float[] vRef = KernelChecks.kvCacheWriteReference(vc, vNew, c.lengths, s);
                assertArrayEquals(kRef, tk.toFloatArray(), "k cache after the write, " + context);
                assertArrayEquals(vRef, tv.toFloatArray(), "v cache after the write, " + context);
                backend.attentionDecode(out, Tensor.of(arena, q, B, c.tq, c.hq * c.d), tk, tv, lengths, s);
                float[] ref = KernelChecks.attentionDecodeReference(q, kRef, vRef, c.lengths, s);
                KernelChecks.assertClose("decode out " + path, out.toFloatArray(), ref, KernelChecks.FP32_TOL, context);
            }
        });
    }
}
