package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Decoding on every backend: kvCacheWrite against a plain copy (bit for bit: it moves values the
 * backend holds) and attentionDecode against a libtorch masked softmax in float64 on the values the
 * backend holds. Every cache position is filled with random data first, so a read past a row's
 * length shows; GQA, odd head dims up to 256, rows of different lengths, single steps (Tq = 1) and
 * prefills with left padding (Tq &gt; 1, rows shorter than Tq). On the CPU the AVX-512 path joins the
 * AVX2 and scalar ones.
 */
class DecodeAttentionContractTest {
    /**
     * The decode output on a GPU is computed in fp32 and rounded to bf16 once: about 1.1e-3 in norm.
     * 4e-3, below {@code STORED}, is what the kernel was held to when it was compared with the fp32
     * CPU backend; a wrong mask, head or rescale gives 1e-1 and above.
     */
    private static final double BF16_OUT_TOL = 4e-3;

    @AfterAll
    static void report() {
        Checks.report("decode");
    }

    /** {@code lengths} per row after this call; a length below Tq left-pads the row. */
    record Case(int tq, int tmax, int hq, int hkv, int d, int[] lengths) {
        @Override
        public String toString() {
            return "Tq=" + tq + " Tmax=" + tmax + " Hq=" + hq + " Hkv=" + hkv + " D=" + d + " lengths="
                    + Arrays.toString(lengths);
        }
    }

    private static Object[] c(int tq, int tmax, int hq, int hkv, int d, int... lengths) {
        return new Object[] {new Case(tq, tmax, hq, hkv, d, lengths)};
    }

    /** Beyond the emulation: a longer cache and a larger group of query heads, whose launch paths the others cover there. */
    static Stream<Arguments> cases() {
        return Stream.concat(Target.crossedWithAvx512(
                        c(1, 40, 4, 2, 10, 1, 17, 40),     // a row of one token, a full row
                        c(1, 70, 2, 1, 256, 69, 2),        // the largest head dim
                        c(1, 9, 3, 3, 64, 9, 4, 6),
                        c(5, 70, 6, 2, 64, 5, 70, 3),      // a prefill: row 2 left-padded by 2
                        c(7, 9, 2, 1, 20, 7),
                        c(13, 13, 4, 2, 13, 13, 1, 8),     // rows of 1 and 8 tokens in a prefill of 13
                        c(2, 24, 20, 5, 8, 24, 3, 17, 11),  // 20 heads a task: a pass of 16, then one of 4
                        c(1, 24, 8, 8, 256, 24),            // 8 KB a position: a row's heads in two tasks
                        c(2, 24, 16, 8, 256, 24, 9)),       // the same with 2 query heads a kv head
                Target.notEmulated(
                        c(1, 130, 3, 3, 8, 130, 65),
                        c(1, 70, 8, 1, 64, 69, 2, 33)));   // 8 query heads on one kv head
    }

    /** Every present target, the AVX-512 path among them: where only it is selected, the refusals still run. */
    static Stream<Target> targets() {
        return Target.presentWithAvx512().stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesLibtorch(Target t, Case c) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", " + c;
        Random rng = new Random(seed);
        int B = c.lengths.length;
        DecodeShape s = new DecodeShape(B, c.tq, c.tmax, c.hq, c.hkv, c.d, (float) (1.0 / Math.sqrt(c.d)));
        int w = (int) s.kvWidth(), qw = c.hq * c.d;
        float[] kc = t.held(Numerics.normal(rng, B * c.tmax * w, 1f)), vc = t.held(Numerics.normal(rng, B * c.tmax * w, 1f));
        float[] kNew = t.held(Numerics.normal(rng, B * c.tq * w, 1f)), vNew = t.held(Numerics.normal(rng, B * c.tq * w, 1f));
        float[] q = t.held(Numerics.normal(rng, B * c.tq * qw, 1f));
        float[] kRef = kvCacheWriteReference(kc, kNew, c.lengths, s), vRef = kvCacheWriteReference(vc, vNew, c.lengths, s);
        float[] ref = attentionDecodeReference(q, kRef, vRef, c.lengths, s);
        double tol = t.bf16() ? BF16_OUT_TOL : t.tol(STORED);

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor tk = t.act(arena, kc, B, c.tmax, w), tv = t.act(arena, vc, B, c.tmax, w);
                Tensor lengths = t.ints(arena, c.lengths, B);
                Tensor out = t.act(arena, Numerics.normal(new Random(seed + 1), B * c.tq * qw, 3f), B, c.tq, qw);  // overwritten
                be.kvCacheWrite(tk, t.act(arena, kNew, B, c.tq, w), lengths, s);
                be.kvCacheWrite(tv, t.act(arena, vNew, B, c.tq, w), lengths, s);
                assertArrayEquals(kRef, t.get(tk), t + " k cache after the write, " + ctx);
                assertArrayEquals(vRef, t.get(tv), t + " v cache after the write, " + ctx);
                be.attentionDecode(out, t.act(arena, q, B, c.tq, qw), tk, tv, lengths, s);
                Checks.assertClose(t, "decode out", t.get(out), ref, tol, ctx);
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void shapesThatDoNotFitAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            DecodeShape s = new DecodeShape(1, 1, 5, 2, 1, 64, 0.125f);
            Tensor q = be.allocate(arena, t.act(), 1, 1, 128), row = be.allocate(arena, t.act(), 1, 1, 64);
            Tensor cache = be.allocate(arena, t.act(), 1, 5, 64), shortCache = be.allocate(arena, t.act(), 1, 4, 64);
            Tensor lengths = t.ints(arena, new int[] {1}, 1), twoLengths = t.ints(arena, new int[] {1, 1}, 2);
            assertThrows(IllegalArgumentException.class, () -> be.kvCacheWrite(shortCache, row, lengths, s));  // 4 positions, not 5
            assertThrows(IllegalArgumentException.class, () -> be.kvCacheWrite(cache, q, lengths, s));         // a row of Hq heads
            assertThrows(IllegalArgumentException.class, () -> be.kvCacheWrite(cache, row, twoLengths, s));    // a length per row
            assertThrows(IllegalArgumentException.class, () -> be.attentionDecode(q, q, shortCache, cache, lengths, s));
            assertThrows(IllegalArgumentException.class, () -> be.attentionDecode(row, q, cache, cache, lengths, s)); // out of Hkv heads
            assertThrows(IllegalArgumentException.class, () -> be.attentionDecode(q, row, cache, cache, lengths, s)); // q of Hkv heads
        }
    }

    // ---- references -----------------------------------------------------------------------------

    /**
     * libtorch attention of Tq new queries against a KV cache, in float64: q [B,Tq,Hq,D], caches
     * [B,Tmax,Hkv,D]; query t of row b at p = lengths[b] - Tq + t sees keys 0..p through an additive
     * -1e30 mask, and its output is zeroed where p &lt; 0. Returns out [B,Tq,Hq,D].
     */
    static float[] attentionDecodeReference(float[] q, float[] kCache, float[] vCache, int[] lengths, DecodeShape s) {
        int B = s.batch(), tq = s.newTokens(), tmax = s.maxLength(), hq = s.heads(), hkv = s.kvHeads(), d = s.headDim();
        float[] bias = new float[B * tq * tmax];   // [B,1,Tq,Tmax]
        float[] keep = new float[B * tq * hq * d]; // 1 where the query is not padding
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < tq; t++) {
                int p = lengths[b] - tq + t;
                for (int j = 0; j < tmax; j++) bias[(b * tq + t) * tmax + j] = p >= 0 && j <= p ? 0f : -1e30f;
                if (p >= 0) Arrays.fill(keep, (b * tq + t) * hq * d, (b * tq + t + 1) * hq * d, 1f);
            }
        }
        int[] kvHead = new int[hq];
        for (int h = 0; h < hq; h++) kvHead[h] = h / (hq / hkv);
        try (PointerScope scope = new PointerScope()) {
            var idx = Torch.longs(kvHead, hq);
            var Q = TorchRef.f64(q, B, tq, hq, d).permute(0, 2, 1, 3);                             // [B,Hq,Tq,D]
            var K = TorchRef.f64(kCache, B, tmax, hkv, d).permute(0, 2, 1, 3).index_select(1, idx); // [B,Hq,Tmax,D]
            var V = TorchRef.f64(vCache, B, tmax, hkv, d).permute(0, 2, 1, 3).index_select(1, idx);
            var S = Q.matmul(K.transpose(2, 3)).mul(new Scalar((double) s.scale())).add(TorchRef.f64(bias, B, 1, tq, tmax));
            var O = S.softmax(3).matmul(V).permute(0, 2, 1, 3).contiguous().mul(TorchRef.f64(keep, B, tq, hq, d));
            return Torch.toFloats(O);
        }
    }

    /** {@code cache} [B,Tmax,W] after writing src [B,Tq,W] row t of row b at position lengths[b] - Tq + t (when &gt;= 0). */
    static float[] kvCacheWriteReference(float[] cache, float[] src, int[] lengths, DecodeShape s) {
        float[] out = cache.clone();
        int w = (int) s.kvWidth();
        for (int b = 0; b < s.batch(); b++) {
            for (int t = 0; t < s.newTokens(); t++) {
                int p = lengths[b] - s.newTokens() + t;
                if (p >= 0 && p < s.maxLength()) {
                    System.arraycopy(src, (b * s.newTokens() + t) * w, out, (b * s.maxLength() + p) * w, w);
                }
            }
        }
        return out;
    }
}
