package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * g4_attention_fwd / g4_attention_bwd against a libtorch reference (explicit scores, additive
 * mask of -1e30, softmax, logsumexp, autograd) on fresh random inputs, through both SIMD paths.
 */
class AttentionTest {
    private static final double TOL = 1e-5;
    private static CpuBackend backend;

    /** How the segment ids of a case are laid out. */
    enum Layout {
        CAUSAL,     // seg == NULL: plain causal attention
        PADDED,     // one sequence per row, right padding (seg 0) of random length
        PACKED,     // 2-3 sequences per row with ids 1,2,3, sometimes a padded tail
        ARBITRARY   // ids drawn at random per token from {0,1,2}: not contiguous runs
    }

    record Case(int b, int t, int hq, int hkv, int d, Layout layout) {
        @Override
        public String toString() {
            return layout + " B=" + b + " T=" + t + " Hq=" + hq + " Hkv=" + hkv + " D=" + d;
        }
    }

    @BeforeAll
    static void setUp() {
        backend = new CpuBackend(2);
        Torch.setThreads(1);
    }

    static Stream<Arguments> cases() {
        List<Case> cs = List.of(
                new Case(1, 1, 1, 1, 8, Layout.CAUSAL),
                new Case(2, 7, 2, 2, 10, Layout.CAUSAL),
                new Case(1, 65, 4, 2, 64, Layout.CAUSAL),
                new Case(1, 130, 6, 1, 8, Layout.CAUSAL),
                new Case(3, 33, 2, 2, 6, Layout.CAUSAL),
                new Case(2, 7, 4, 2, 8, Layout.PADDED),
                new Case(2, 65, 4, 2, 10, Layout.PADDED),
                new Case(3, 130, 2, 1, 64, Layout.PADDED),
                new Case(3, 130, 4, 2, 8, Layout.PACKED),
                new Case(2, 65, 6, 1, 64, Layout.PACKED),
                new Case(3, 7, 2, 2, 10, Layout.PACKED),
                new Case(1, 100, 3, 3, 40, Layout.PACKED),
                new Case(2, 130, 4, 2, 10, Layout.ARBITRARY));
        List<Arguments> out = new ArrayList<>();
        for (boolean scalar : new boolean[] {false, true}) {
            for (Case c : cs) out.add(Arguments.of(c, scalar ? "scalar" : "simd"));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesLibtorch(Case c, String path) {
        boolean scalar = path.equals("scalar");
        CpuKernels.forceScalar(scalar);
        try {
            long seed = TestSeeds.next();
            check(c, new Random(seed), "seed " + seed + ", " + c + ", " + path);
        } finally {
            CpuKernels.forceScalar(false);
        }
    }

    /** Every output element is computed by one task in a fixed order: the thread count cannot matter. */
    @Test
    void resultsDoNotDependOnThreadCount() {
        long seed = TestSeeds.next();
        Case c = new Case(2, 130, 4, 2, 16, Layout.PACKED);
        float[][] one, two;
        try {
            new CpuBackend(1);
            one = run(c, new Random(seed));
            new CpuBackend(2);
            two = run(c, new Random(seed));
        } finally {
            backend = new CpuBackend(2);
        }
        for (int i = 0; i < one.length; i++) {
            assertArrayEquals(one[i], two[i], "output " + i + " differs between 1 and 2 threads, seed " + seed);
        }
    }

    // ---- inputs -----------------------------------------------------------------------------------

    private static int[] segments(Case c, Random rng) {
        int[] seg = new int[c.b * c.t];
        for (int b = 0; b < c.b; b++) {
            int row = b * c.t;
            switch (c.layout) {
                case CAUSAL -> java.util.Arrays.fill(seg, row, row + c.t, 1);
                case PADDED -> {
                    // the first row is full, the others keep a random prefix (at least one token)
                    int len = b == 0 ? c.t : 1 + rng.nextInt(c.t);
                    java.util.Arrays.fill(seg, row, row + len, 1);
                }
                case PACKED -> {
                    int n = 2 + rng.nextInt(2);
                    int end = rng.nextBoolean() ? c.t : Math.max(n, c.t - rng.nextInt(Math.max(1, c.t / 4)));
                    int start = 0;
                    for (int s = 1; s <= n; s++) {
                        int stop = s == n ? end : start + 1 + rng.nextInt(Math.max(1, end - start - (n - s)));
                        stop = Math.min(stop, end - (n - s));
                        java.util.Arrays.fill(seg, row + start, row + stop, s);
                        start = stop;
                    }
                }
                case ARBITRARY -> {
                    for (int t = 0; t < c.t; t++) seg[row + t] = rng.nextInt(3);
                }
            }
        }
        return seg;
    }

    private static AttentionShape shape(Case c) {
        return new AttentionShape(c.b, c.t, c.hq, c.hkv, c.d, (float) (1.0 / Math.sqrt(c.d)));
    }

    /** Our forward and backward on data drawn from rng: {out, lse, dq, dk, dv}. */
    private static float[][] run(Case c, Random rng) {
        int nq = c.b * c.t * c.hq * c.d, nk = c.b * c.t * c.hkv * c.d;
        float[] q = Numerics.normal(rng, nq, 1.5f), k = Numerics.normal(rng, nk, 1.5f);
        float[] v = Numerics.normal(rng, nk, 1f), g = Numerics.normal(rng, nq, 1f);
        int[] seg = segments(c, rng);
        var shape = shape(c);
        try (Arena arena = Arena.ofConfined()) {
            Tensor tq = Tensor.of(arena, q, c.b, c.t, c.hq, c.d), tk = Tensor.of(arena, k, c.b, c.t, c.hkv, c.d);
            Tensor tv = Tensor.of(arena, v, c.b, c.t, c.hkv, c.d), tg = Tensor.of(arena, g, c.b, c.t, c.hq, c.d);
            Tensor ts = c.layout == Layout.CAUSAL ? null : Tensor.ofInts(arena, seg, c.b, c.t);
            // garbage everywhere the kernels write: they must overwrite it
            Tensor out = Tensor.of(arena, Numerics.normal(rng, nq, 3f), c.b, c.t, c.hq, c.d);
            Tensor lse = Tensor.of(arena, Numerics.normal(rng, c.b * c.hq * c.t, 3f), c.b, c.hq, c.t);
            Tensor dq = Tensor.of(arena, Numerics.normal(rng, nq, 3f), c.b, c.t, c.hq, c.d);
            Tensor dk = Tensor.of(arena, Numerics.normal(rng, nk, 3f), c.b, c.t, c.hkv, c.d);
            Tensor dv = Tensor.of(arena, Numerics.normal(rng, nk, 3f), c.b, c.t, c.hkv, c.d);
            backend.attentionForward(out, lse, tq, tk, tv, ts, shape);
            backend.attentionBackward(dq, dk, dv, tg, out, lse, tq, tk, tv, ts, shape);
            return new float[][] {out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dk.toFloatArray(),
                    dv.toFloatArray(), q, k, v, g, toFloats(seg)};
        }
    }

    private static float[] toFloats(int[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = a[i];
        return f;
    }

    // ---- the check ----------------------------------------------------------------------------------

    private static void check(Case c, Random rng, String msg) {
        float[][] r = run(c, rng);
        float[] out = r[0], lse = r[1], dq = r[2], dk = r[3], dv = r[4], q = r[5], k = r[6], v = r[7], g = r[8];
        int[] seg = new int[r[9].length];
        for (int i = 0; i < seg.length; i++) seg[i] = (int) r[9][i];
        float[][] ref = KernelChecks.attentionReference(q, k, v, g, seg, shape(c));

        // rows of queries that see at least one key (their own); the rest are padding
        boolean[] valid = new boolean[c.b * c.t];
        for (int i = 0; i < valid.length; i++) valid[i] = seg[i] != 0;
        int rowLen = c.hq * c.d;
        float[][] o = split(out, ref[0], valid, rowLen), dqs = split(dq, ref[2], valid, rowLen);
        assertClose("out", o[0], o[1], msg);
        assertClose("dq", dqs[0], dqs[1], msg);
        for (float x : o[2]) assertEquals(0f, x, "out of a padding query must be exactly 0, " + msg);
        for (float x : dqs[2]) assertEquals(0f, x, "dq of a padding query must be exactly 0, " + msg);

        // lse [B,Hq,T]
        List<Float> ours = new ArrayList<>(), theirs = new ArrayList<>();
        for (int b = 0; b < c.b; b++) {
            for (int h = 0; h < c.hq; h++) {
                for (int t = 0; t < c.t; t++) {
                    int i = (b * c.hq + h) * c.t + t;
                    if (valid[b * c.t + t]) {
                        ours.add(lse[i]);
                        theirs.add(ref[1][i]);
                    } else {
                        assertEquals(Float.NEGATIVE_INFINITY, lse[i], "lse of a padding query, " + msg);
                    }
                }
            }
        }
        assertClose("lse", unbox(ours), unbox(theirs), msg);
        assertClose("dk", dk, ref[3], msg);
        assertClose("dv", dv, ref[4], msg);
    }

    /** {ours at valid rows, reference at valid rows, ours at padding rows}. */
    private static float[][] split(float[] ours, float[] ref, boolean[] valid, int rowLen) {
        int nv = 0;
        for (boolean x : valid) if (x) nv++;
        float[] a = new float[nv * rowLen], b = new float[nv * rowLen], pad = new float[(valid.length - nv) * rowLen];
        int iv = 0, ip = 0;
        for (int row = 0; row < valid.length; row++) {
            if (valid[row]) {
                System.arraycopy(ours, row * rowLen, a, iv, rowLen);
                System.arraycopy(ref, row * rowLen, b, iv, rowLen);
                iv += rowLen;
            } else {
                System.arraycopy(ours, row * rowLen, pad, ip, rowLen);
                ip += rowLen;
            }
        }
        return new float[][] {a, b, pad};
    }

    private static float[] unbox(List<Float> l) {
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) f[i] = l.get(i);
        return f;
    }

    private static double maxErr = 0;

    /**
     * Relative norm error below TOL. Where the exact value is zero (dq of a one-token sequence, for
     * instance: softmax over one key has no gradient) libtorch and we both produce rounding noise,
     * so a reference whose norm is below 1e-3 per element is compared by absolute norm instead.
     */
    private static void assertClose(String what, float[] ours, float[] ref, String msg) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        double n = Math.max(1, ref.length);
        if (den < 1e-6 * n) {
            assertTrue(Math.sqrt(num / n) < TOL, what + ": absolute rms error " + Math.sqrt(num / n) + ", " + msg);
            return;
        }
        double err = Numerics.relErr(ours, ref);
        synchronized (AttentionTest.class) {
            if (err > maxErr) {
                maxErr = err;
                System.out.printf("max relative error so far: %.3g (%s, %s)%n", err, what, msg);
            }
        }
        assertTrue(err < TOL, what + ": relative error " + err + ", " + msg);
    }
}
