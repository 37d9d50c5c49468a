package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SUM;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Causal self-attention forward and backward (out and lse saved, then dq, dk, dv) on every backend
 * against libtorch autograd in float64 on the values the backend holds: explicit scores with an
 * additive -1e30 mask, softmax, logsumexp. GQA, plain causal attention (no segments), right padding,
 * packed sequences and segment ids that are not contiguous runs; on a GPU the tensor-core kernels
 * (head dims 64, 128, aligned tensors) and the generic ones (other head dims, or views that are not
 * 16-byte aligned), over one and several tiles. Every output starts as garbage and must be
 * overwritten; padding queries get exact zeros and an lse of -inf.
 *
 * <p>Tolerances (relative norm error): on the CPU everything is fp32, a few ulps. On a GPU out is
 * rounded to bf16 once and P is rounded to bf16 before P·V ({@code STORED}, 1.5-2e-3 observed);
 * dq, dk, dv take P and dS into the tensor-core products as bf16, are rounded to bf16, and
 * delta = dout·out uses the bf16 out: twice {@code STORED} (2-4e-3 observed); lse is fp32 from exact
 * bf16 products ({@code F32_SUM}, ~1e-7 observed), measured against the lse of |q|·|k| since the
 * scores of a few keys can cancel to near 0. A wrong mask, index, rescale or lost tile gives
 * 1e-1 and above.
 */
class AttentionContractTest {
    @AfterAll
    static void report() {
        Checks.report("attention");
    }

    /** How the segment ids of a case are laid out. */
    enum Layout {
        CAUSAL,     // segments == null: plain causal attention
        PADDED,     // one sequence per row, right padding (id 0) of random length
        PACKED,     // 2-3 sequences per row with ids 1, 2, 3, sometimes a padded tail
        ARBITRARY   // ids drawn per token from {0, 1, 2}: not contiguous runs
    }

    record Case(int b, int t, int hq, int hkv, int d, Layout layout) {
        AttentionShape shape() {
            return new AttentionShape(b, t, hq, hkv, d, (float) (1.0 / Math.sqrt(d)));
        }

        @Override
        public String toString() {
            return layout + " B=" + b + " T=" + t + " Hq=" + hq + " Hkv=" + hkv + " D=" + d;
        }
    }

    private static Object[] c(int b, int t, int hq, int hkv, int d, Layout layout) {
        return new Object[] {new Case(b, t, hq, hkv, d, layout)};
    }

    /**
     * On every target (the CPU's AVX-512 path among them), small enough for the emulation: the tensor-core head dims with one token, a
     * partial tile, exactly one tile and two to three tiles (64 queries per forward tile, 64 or 32 per
     * backward one), the generic kernels over one and several 32-key chunks, GQA and every layout.
     * Beyond the emulation: the full sizes, and sequences of a few hundred tokens.
     */
    static Stream<Arguments> cases() {
        return Stream.concat(Target.crossedWithAvx512(
                        c(1, 1, 1, 1, 64, Layout.CAUSAL),       // tensor cores, one token
                        c(1, 17, 4, 2, 64, Layout.CAUSAL),      // GQA, a partial tile
                        c(2, 64, 2, 1, 64, Layout.PADDED),      // exactly one tile
                        c(1, 100, 2, 1, 64, Layout.PACKED),     // two tiles, sequences across the boundary
                        c(1, 70, 2, 2, 64, Layout.ARBITRARY),   // ids not in runs, over two tiles
                        c(1, 17, 2, 2, 128, Layout.PADDED),
                        c(1, 80, 2, 1, 128, Layout.PACKED),     // two forward tiles, three backward ones, GQA
                        c(1, 40, 2, 1, 128, Layout.CAUSAL),     // two backward tiles, no segments
                        c(1, 1, 1, 1, 8, Layout.CAUSAL),        // generic from here on
                        c(2, 7, 2, 2, 10, Layout.CAUSAL),
                        c(2, 7, 4, 2, 8, Layout.PADDED),
                        c(3, 7, 2, 2, 10, Layout.PACKED),
                        c(1, 17, 4, 2, 33, Layout.CAUSAL),      // odd head dim
                        c(1, 40, 2, 1, 33, Layout.PACKED),      // two 32-key chunks
                        c(1, 40, 2, 1, 80, Layout.PADDED),      // a real model's head dim
                        c(2, 40, 2, 2, 48, Layout.CAUSAL),      // the small preset's: 32 + 16 floats of a head
                        c(1, 37, 2, 1, 6, Layout.ARBITRARY)),
                Target.notEmulated(
                        c(1, 65, 4, 2, 64, Layout.CAUSAL),
                        c(2, 100, 4, 2, 64, Layout.PACKED),
                        c(1, 130, 2, 1, 64, Layout.ARBITRARY),
                        c(3, 130, 2, 1, 64, Layout.PADDED),
                        c(2, 65, 6, 1, 64, Layout.PACKED),
                        c(1, 130, 4, 2, 128, Layout.CAUSAL),
                        c(1, 100, 4, 2, 128, Layout.PACKED),
                        c(1, 130, 6, 1, 8, Layout.CAUSAL),
                        c(3, 33, 2, 2, 6, Layout.CAUSAL),
                        c(2, 65, 4, 2, 10, Layout.PADDED),
                        c(3, 130, 4, 2, 8, Layout.PACKED),
                        c(1, 100, 3, 3, 40, Layout.PACKED),
                        c(2, 100, 4, 2, 33, Layout.PACKED),
                        c(1, 64, 2, 1, 80, Layout.PADDED),
                        c(2, 130, 4, 2, 10, Layout.ARBITRARY),
                        c(1, 300, 8, 2, 64, Layout.PACKED),
                        c(2, 260, 2, 1, 128, Layout.PADDED)));
    }

    /**
     * Views that start one element past an aligned address (2 bytes in bf16, 4 in fp32): on a GPU the
     * tensor-core head dims then take the generic kernels.
     */
    static Stream<Arguments> misalignedCases() {
        return Target.crossedWithAvx512(c(1, 40, 2, 1, 64, Layout.PACKED), c(1, 33, 2, 2, 128, Layout.PADDED));
    }

    /** Every present target, the AVX-512 path among them: where only it is selected, the refusals still run. */
    static Stream<Target> targets() {
        return Target.presentWithAvx512().stream();
    }

    static Stream<Target> cpuTargets() {
        return Target.all().filter(t -> !t.bf16());
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesLibtorch(Target t, Case c) {
        long seed = TestSeeds.next();
        check(t, c, seed, false);
    }

    @ParameterizedTest(name = "{0} {1} misaligned")
    @MethodSource("misalignedCases")
    void misalignedTensorsMatchLibtorch(Target t, Case c) {
        long seed = TestSeeds.next();
        check(t, c, seed, true);
    }

    /** On the CPU every output element is one task's work in a fixed order: the thread count cannot change a bit. */
    @ParameterizedTest(name = "{0}", allowZeroInvocations = true)  // -Dgpt4llm.targets may select none of them
    @MethodSource("cpuTargets")
    void cpuResultsDoNotDependOnTheThreadCount(Target t) {
        long seed = TestSeeds.next();
        Case c = new Case(2, 130, 4, 2, 16, Layout.PACKED);
        Inputs in = Inputs.draw(t, c, new Random(seed));
        float[][] two = run(t, c, in, seed, false), one;
        CpuKernels.setNumThreads(1);
        try {
            one = run(t, c, in, seed, false);
        } finally {
            CpuKernels.setNumThreads(t.backend().threads());
        }
        for (int i = 0; i < one.length; i++) {
            assertArrayEquals(two[i], one[i], t + " output " + i + " differs between 1 and 2 threads, seed " + seed);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void shapesThatDoNotFitAreRefused(Target t) {
        Backend be = t.backend();
        AttentionShape s = new AttentionShape(1, 4, 2, 1, 64, 0.125f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = be.allocate(arena, t.act(), 1, 4, 2, 64), kv = be.allocate(arena, t.act(), 1, 4, 1, 64);
            Tensor lse = be.allocate(arena, DType.F32, 1, 2, 4), seg = be.allocate(arena, DType.I32, 1, 4);
            assertThrows(IllegalArgumentException.class,
                    () -> be.attentionForward(q, lse, q, q, kv, seg, s));                               // k of Hq heads
            assertThrows(IllegalArgumentException.class,
                    () -> be.attentionForward(q, lse, q, kv, kv, be.allocate(arena, DType.I32, 1, 5), s)); // segments not [B,T]
            assertThrows(IllegalArgumentException.class,
                    () -> be.attentionForward(kv, lse, q, kv, kv, seg, s));                             // out not [B,T,Hq,D]
            assertThrows(IllegalArgumentException.class,
                    () -> be.attentionForward(q, be.allocate(arena, DType.F32, 1, 1, 4), q, kv, kv, seg, s)); // lse not [B,Hq,T]
            assertThrows(IllegalArgumentException.class,
                    () -> be.attentionBackward(q, q, kv, q, q, lse, q, kv, kv, seg, s));                // dk not [B,T,Hkv,D]
        }
    }

    // ---- one case -------------------------------------------------------------------------------

    /** The inputs of a case as the target holds them. */
    private record Inputs(float[] q, float[] k, float[] v, float[] g, int[] seg) {
        static Inputs draw(Target t, Case c, Random rng) {
            int nq = c.b * c.t * c.hq * c.d, nk = c.b * c.t * c.hkv * c.d;
            return new Inputs(t.held(Numerics.normal(rng, nq, 1.5f)), t.held(Numerics.normal(rng, nk, 1.5f)),
                    t.held(Numerics.normal(rng, nk, 1f)), t.held(Numerics.normal(rng, nq, 1f)), segments(c, rng));
        }
    }

    private static void check(Target t, Case c, long seed, boolean misaligned) {
        String ctx = "seed " + seed + ", " + c + (misaligned ? ", misaligned" : "");
        Inputs in = Inputs.draw(t, c, new Random(seed));
        float[][] ours = run(t, c, in, seed, misaligned);
        float[][] ref = reference(in.q, in.k, in.v, in.g, in.seg, c.shape());

        boolean[] valid = new boolean[c.b * c.t];
        for (int i = 0; i < valid.length; i++) valid[i] = in.seg[i] != 0;
        int rowLen = c.hq * c.d;
        for (int i = 0; i < valid.length; i++) {
            if (valid[i]) continue;  // a padding query: exact zeros and -inf, whatever dout holds
            for (int x = i * rowLen; x < (i + 1) * rowLen; x++) {
                assertEquals(0f, ours[0][x], t + " out of padding query " + i + ", " + ctx);
                assertEquals(0f, ours[2][x], t + " dq of padding query " + i + ", " + ctx);
            }
            for (int h = 0; h < c.hq; h++) {
                int at = ((i / c.t) * c.hq + h) * c.t + i % c.t;
                assertEquals(Float.NEGATIVE_INFINITY, ours[1][at], t + " lse of padding query " + i + ", " + ctx);
            }
        }
        double grad = t.bf16() ? 2 * t.tol(STORED) : t.tol(STORED);
        // the reference's padding rows are meaningless (a uniform softmax over masked keys): valid queries only
        assertNear(t, "attention out", rowsWhere(ours[0], valid, rowLen), rowsWhere(ref[0], valid, rowLen), t.tol(STORED), ctx);
        // relative to the terms: a few keys' scores can cancel to near 0, leaving fp32 rounding of larger products
        Checks.assertCloseScaled(t, "attention lse", lseWhere(ours[1], valid, c), lseWhere(ref[1], valid, c),
                lseWhere(ref[5], valid, c), t.tol(F32_SUM), ctx);
        assertNear(t, "attention dq", rowsWhere(ours[2], valid, rowLen), rowsWhere(ref[2], valid, rowLen), grad, ctx);
        assertNear(t, "attention dk", ours[3], ref[3], grad, ctx);
        assertNear(t, "attention dv", ours[4], ref[4], grad, ctx);
    }

    /** The target's forward and backward from outputs full of garbage: {out, lse, dq, dk, dv}. */
    private static float[][] run(Target t, Case c, Inputs in, long seed, boolean misaligned) {
        float[][] res = new float[5][];
        AttentionShape s = c.shape();
        long[] qShape = {c.b, c.t, c.hq, c.d}, kShape = {c.b, c.t, c.hkv, c.d};
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Random junk = new Random(seed + 1);
                int nq = in.q.length, nk = in.k.length;
                Tensor q = act(t, arena, in.q, misaligned, qShape), k = act(t, arena, in.k, misaligned, kShape);
                Tensor v = act(t, arena, in.v, misaligned, kShape), g = act(t, arena, in.g, misaligned, qShape);
                if (misaligned && t.bf16()) {
                    assertNotEquals(0, q.data().address() % 16, "a misaligned view is 16-byte aligned");
                }
                Tensor seg = c.layout == Layout.CAUSAL ? null : t.ints(arena, in.seg, c.b, c.t);
                Tensor out = act(t, arena, Numerics.normal(junk, nq, 3f), misaligned, qShape);
                Tensor lse = t.f32(arena, Numerics.normal(junk, c.b * c.hq * c.t, 3f), c.b, c.hq, c.t);
                Tensor dq = act(t, arena, Numerics.normal(junk, nq, 3f), misaligned, qShape);
                Tensor dk = act(t, arena, Numerics.normal(junk, nk, 3f), misaligned, kShape);
                Tensor dv = act(t, arena, Numerics.normal(junk, nk, 3f), misaligned, kShape);
                be.attentionForward(out, lse, q, k, v, seg, s);
                be.attentionBackward(dq, dk, dv, g, out, lse, q, k, v, seg, s);
                float[][] got = {t.get(out), t.get(lse), t.get(dq), t.get(dk), t.get(dv)};
                System.arraycopy(got, 0, res, 0, got.length);
            }
        });
        return res;
    }

    private static Tensor act(Target t, Arena arena, float[] v, boolean misaligned, long... shape) {
        return misaligned ? t.misaligned(arena, t.act(), v).view(shape) : t.act(arena, v, shape);
    }

    /**
     * Relative norm error below tol; a reference whose RMS is below 1e-3 (dq of a one-token
     * sequence: softmax over one key has no gradient, the backend's result is rounding noise) is
     * compared by absolute RMS instead.
     */
    private static void assertNear(Target t, String what, float[] ours, float[] ref, double tol, String ctx) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        double n = Math.max(1, ref.length);
        if (den >= 1e-6 * n) {
            Checks.assertClose(t, what, ours, ref, tol, ctx);
            return;
        }
        double err = Math.sqrt(num / n);
        Checks.record(t, what + " (absolute)", err);
        assertTrue(err < tol, t + " " + what + ": absolute RMS error " + err + " >= " + tol + " (" + ctx + ")");
    }

    // ---- inputs ---------------------------------------------------------------------------------

    /** Segment ids per token (all 1 for CAUSAL, which passes null to the backend). */
    private static int[] segments(Case c, Random rng) {
        int[] seg = new int[c.b * c.t];
        for (int b = 0; b < c.b; b++) {
            int row = b * c.t;
            switch (c.layout) {
                case CAUSAL -> Arrays.fill(seg, row, row + c.t, 1);
                case PADDED -> Arrays.fill(seg, row, row + (b == 0 ? c.t : 1 + rng.nextInt(c.t)), 1);  // row 0 full
                case PACKED -> {
                    int n = Math.min(c.t, 2 + rng.nextInt(2));
                    int end = rng.nextBoolean() ? c.t : Math.max(n, c.t - rng.nextInt(Math.max(1, c.t / 4)));
                    int start = 0;
                    for (int id = 1; id <= n; id++) {
                        int stop = id == n ? end
                                : Math.min(start + 1 + rng.nextInt(Math.max(1, end - start - (n - id))), end - (n - id));
                        Arrays.fill(seg, row + start, row + stop, id);
                        start = stop;
                    }
                }
                case ARBITRARY -> {
                    for (int i = 0; i < c.t; i++) seg[row + i] = rng.nextInt(3);
                }
            }
        }
        return seg;
    }

    private static float[] rowsWhere(float[] x, boolean[] valid, int rowLen) {
        float[] out = new float[x.length];
        int n = 0;
        for (int r = 0; r < valid.length; r++) {
            if (!valid[r]) continue;
            System.arraycopy(x, r * rowLen, out, n, rowLen);
            n += rowLen;
        }
        return Arrays.copyOf(out, n);
    }

    /** lse [B,Hq,T] at valid queries. */
    private static float[] lseWhere(float[] x, boolean[] valid, Case c) {
        float[] out = new float[x.length];
        int n = 0;
        for (int b = 0; b < c.b; b++) {
            for (int h = 0; h < c.hq; h++) {
                for (int i = 0; i < c.t; i++) {
                    if (valid[b * c.t + i]) out[n++] = x[(b * c.hq + h) * c.t + i];
                }
            }
        }
        return Arrays.copyOf(out, n);
    }

    // ---- the reference --------------------------------------------------------------------------

    /**
     * libtorch autograd attention in float64, explicit scores with an additive -1e30 mask (key j
     * visible to query i iff j &lt;= i and seg[j] == seg[i] != 0): {out [B,T,Hq,D], lse [B,Hq,T], dq,
     * dk, dv, lse over |q|·|k|} for the loss sum(out * g) over the non-padding queries.
     */
    static float[][] reference(float[] q, float[] k, float[] v, float[] g, int[] seg, AttentionShape s) {
        int B = s.batch(), T = s.seqLen(), hq = s.heads(), hkv = s.kvHeads(), d = s.headDim();
        float[] bias = new float[B * T * T];     // [B,1,T,T]: 0 where key j is visible to query i
        float[] gm = g.clone();                  // upstream gradient, zero at padding queries
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < T; i++) {
                int si = seg[b * T + i];
                for (int j = 0; j < T; j++) {
                    boolean visible = j <= i && si != 0 && seg[b * T + j] == si;
                    bias[(b * T + i) * T + j] = visible ? 0f : -1e30f;
                }
                if (si == 0) Arrays.fill(gm, (b * T + i) * hq * d, (b * T + i + 1) * hq * d, 0f);
            }
        }
        int[] kvHead = new int[hq];
        for (int h = 0; h < hq; h++) kvHead[h] = h / (hq / hkv);
        try (PointerScope scope = new PointerScope()) {
            var tq = TorchRef.leaf64(q, B, T, hq, d);
            var tk = TorchRef.leaf64(k, B, T, hkv, d);
            var tv = TorchRef.leaf64(v, B, T, hkv, d);
            var idx = Torch.longs(kvHead, hq);
            var Q = tq.permute(0, 2, 1, 3);                                   // [B,Hq,T,D]
            var K = tk.permute(0, 2, 1, 3).index_select(1, idx);              // [B,Hq,T,D]
            var V = tv.permute(0, 2, 1, 3).index_select(1, idx);
            var S = Q.matmul(K.transpose(2, 3)).mul(new Scalar((double) s.scale()))
                    .add(TorchRef.f64(bias, B, 1, T, T));                     // [B,Hq,T,T]
            var O = S.softmax(3).matmul(V).permute(0, 2, 1, 3).contiguous();  // [B,T,Hq,D]
            var lse = S.logsumexp(new long[] {3}, false);                     // [B,Hq,T]
            // the same over |q|·|k|: how large the terms whose sums lse is made of are
            var lseOfTerms = Q.abs().matmul(K.abs().transpose(2, 3)).mul(new Scalar((double) s.scale()))
                    .add(TorchRef.f64(bias, B, 1, T, T)).logsumexp(new long[] {3}, false);
            O.mul(TorchRef.f64(gm, B, T, hq, d)).sum().backward();
            return new float[][] {Torch.toFloats(O), Torch.toFloats(lse), Torch.toFloats(tq.grad()),
                    Torch.toFloats(tk.grad()), Torch.toFloats(tv.grad()), Torch.toFloats(lseOfTerms)};
        }
    }
}
