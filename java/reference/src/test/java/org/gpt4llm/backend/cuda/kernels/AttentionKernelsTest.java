package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.KernelChecks;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AttentionKernels through the emulation against libtorch autograd in fp32 and against the CPU
 * backend, both on the same bf16-rounded q, k, v, dout: tensor-core kernels (D = 64, 128) and the
 * generic ones (other D, or unaligned tensors), tile boundaries (T = 1, 17, 64, 100, 130), GQA,
 * padding, packed sequences and non-contiguous segment ids.
 *
 * <p>Tolerances (relative norm error), from what bf16 storage allows:
 * <ul>
 * <li>out {@value #OUT_TOL}: out is rounded to bf16 once (at most 2^-9 relative, about 1.1e-3 in
 *     norm) and P is rounded to bf16 before P·V (another ~1e-3); 1.5-2e-3 is observed.
 * <li>dq, dk, dv {@value #GRAD_TOL}: P and dS enter the tensor-core products as bf16, the result
 *     is rounded to bf16, and delta = dout·out uses the bf16 out; 2-4e-3 is observed.
 * <li>lse {@value #LSE_TOL}: fp32 throughout (exact bf16 products, fp32 sums); only the order
 *     of the sums and the exp differ, ~1e-7 is observed.
 * </ul>
 * A wrong mask, index, rescale or lost tile gives errors of order 1e-1 and above.
 */
class AttentionKernelsTest {
    static final double OUT_TOL = 5e-3, GRAD_TOL = 1e-2, LSE_TOL = 1e-4;

    private static Device dev;
    private static CpuBackend cpu;
    private static final Map<String, Double> MAX_ERR = new TreeMap<>();

    enum Layout { CAUSAL, PADDED, PACKED, ARBITRARY }

    record Case(int b, int t, int hq, int hkv, int d, Layout layout) {
        @Override
        public String toString() {
            return layout + " B=" + b + " T=" + t + " Hq=" + hq + " Hkv=" + hkv + " D=" + d;
        }

        AttentionShape shape() {
            return new AttentionShape(b, t, hq, hkv, d, (float) (1.0 / Math.sqrt(d)));
        }
    }

    @BeforeAll
    static void setUp() {
        dev = new EmuDevice();
        cpu = new CpuBackend(1);
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        MAX_ERR.forEach((k, v) -> System.out.printf("max relative error %-12s %.3e%n", k, v));
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case(1, 1, 1, 1, 64, Layout.CAUSAL),       // tensor cores, one token
                new Case(1, 17, 4, 2, 64, Layout.CAUSAL),      // GQA, a partial tile
                new Case(2, 64, 2, 1, 64, Layout.PADDED),      // exactly one tile
                new Case(2, 100, 4, 2, 64, Layout.PACKED),     // two tiles, sequences across the boundary
                new Case(1, 130, 2, 1, 64, Layout.ARBITRARY),  // three tiles, ids not in runs
                new Case(1, 17, 2, 2, 128, Layout.PADDED),
                new Case(1, 130, 4, 2, 128, Layout.CAUSAL),     // three tiles
                new Case(1, 100, 4, 2, 128, Layout.PACKED),
                new Case(1, 17, 4, 2, 33, Layout.CAUSAL),      // generic: odd D
                new Case(2, 100, 4, 2, 33, Layout.PACKED),
                new Case(1, 64, 2, 1, 80, Layout.PADDED));     // generic: a real model's head dim
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesLibtorchAndCpu(Case c) {
        long seed = TestSeeds.next();
        check(c, new Random(seed), false, "seed " + seed + ", " + c);
    }

    /** D = 64 tensors that are not 16-byte aligned: the launcher must take the generic kernels. */
    @Test
    void unalignedTensorsTakeTheGenericPath() {
        long seed = TestSeeds.next();
        check(new Case(1, 40, 2, 1, 64, Layout.PACKED), new Random(seed), true, "seed " + seed + ", unaligned");
    }

    @Test
    void rejectsBadArguments() {
        try (Arena arena = Arena.ofConfined()) {
            AttentionShape s = new AttentionShape(1, 4, 2, 1, 64, 0.125f);
            Tensor q = dev.allocate(arena, DType.BF16, 1, 4, 2, 64), kv = dev.allocate(arena, DType.BF16, 1, 4, 1, 64);
            Tensor lse = dev.allocate(arena, DType.F32, 1, 2, 4), f32q = dev.allocate(arena, DType.F32, 1, 4, 2, 64);
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionKernels.attentionForward(dev, f32q, lse, q, kv, kv, null, s));
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionKernels.attentionForward(dev, q, lse, q, q, kv, null, s));
            AttentionShape wide = new AttentionShape(1, 4, 1, 1, 264, 0.1f);
            Tensor w = dev.allocate(arena, DType.BF16, 1, 4, 1, 264), wl = dev.allocate(arena, DType.F32, 1, 1, 4);
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionKernels.attentionForward(dev, w, wl, w, w, w, null, wide));
        }
    }

    // ---- one case -------------------------------------------------------------------------------

    private static void check(Case c, Random rng, boolean unaligned, String msg) {
        int nq = c.b * c.t * c.hq * c.d, nk = c.b * c.t * c.hkv * c.d;
        float[] q = bf16(Numerics.normal(rng, nq, 1.5f)), k = bf16(Numerics.normal(rng, nk, 1.5f));
        float[] v = bf16(Numerics.normal(rng, nk, 1f)), g = bf16(Numerics.normal(rng, nq, 1f));
        int[] seg = segments(c, rng);
        AttentionShape s = c.shape();
        float[][] ours = new float[5][];  // out, lse, dq, dk, dv
        try (Arena arena = Arena.ofConfined()) {
            Tensor tq = upload(arena, q, unaligned, c.b, c.t, c.hq, c.d), tk = upload(arena, k, unaligned, c.b, c.t, c.hkv, c.d);
            Tensor tv = upload(arena, v, unaligned, c.b, c.t, c.hkv, c.d), tg = upload(arena, g, unaligned, c.b, c.t, c.hq, c.d);
            if (unaligned) assertFalse(AttentionKernels.tensorCores(c.d, tq, tk, tv, tg));
            else assertEquals(c.d == 64 || c.d == 128, AttentionKernels.tensorCores(c.d, tq, tk, tv, tg));
            Tensor ts = null;
            if (c.layout != Layout.CAUSAL) {
                ts = dev.allocate(arena, DType.I32, c.b, c.t);
                dev.upload(ts, MemorySegment.ofArray(seg));
            }
            // garbage wherever the kernels write: everything must be overwritten
            Tensor out = upload(arena, Numerics.normal(rng, nq, 3f), unaligned, c.b, c.t, c.hq, c.d);
            Tensor lse = f32(arena, Numerics.normal(rng, c.b * c.hq * c.t, 3f), c.b, c.hq, c.t);
            Tensor dq = upload(arena, Numerics.normal(rng, nq, 3f), unaligned, c.b, c.t, c.hq, c.d);
            Tensor dk = upload(arena, Numerics.normal(rng, nk, 3f), unaligned, c.b, c.t, c.hkv, c.d);
            Tensor dv = upload(arena, Numerics.normal(rng, nk, 3f), unaligned, c.b, c.t, c.hkv, c.d);
            Tensor ws = f32(arena, Numerics.normal(rng, (int) AttentionKernels.workspaceElements(s), 3f),
                    AttentionKernels.workspaceElements(s));
            AttentionKernels.attentionForward(dev, out, lse, tq, tk, tv, ts, s);
            AttentionKernels.attentionBackward(dev, dq, dk, dv, tg, out, lse, tq, tk, tv, ts, s, ws);
            ours = new float[][] {download(out), download(lse), download(dq), download(dk), download(dv)};
        }
        float[][] torch = KernelChecks.attentionReference(q, k, v, g, seg, c.shape());
        float[][] host = cpuBackend(c, q, k, v, g, seg);

        boolean[] valid = new boolean[c.b * c.t];
        for (int i = 0; i < valid.length; i++) valid[i] = seg[i] != 0;
        int rowLen = c.hq * c.d;
        for (int i = 0; i < valid.length; i++) {
            if (valid[i]) continue;  // a padding query: exact zeros and -inf, whatever dout holds
            for (int x = i * rowLen; x < (i + 1) * rowLen; x++) {
                assertEquals(0f, ours[0][x], "out of padding query " + i + ", " + msg);
                assertEquals(0f, ours[2][x], "dq of padding query " + i + ", " + msg);
            }
            for (int h = 0; h < c.hq; h++) {
                int at = ((i / c.t) * c.hq + h) * c.t + i % c.t;
                assertEquals(Float.NEGATIVE_INFINITY, ours[1][at], "lse of padding query " + i + ", " + msg);
            }
        }
        String[] names = {"out", "lse", "dq", "dk", "dv"};
        double[] tol = {OUT_TOL, LSE_TOL, GRAD_TOL, GRAD_TOL, GRAD_TOL};
        for (int o = 0; o < 5; o++) {
            float[] a = ours[o], t = torch[o], h = host[o];
            if (o == 0 || o == 2) {  // padding rows of the reference are meaningless (uniform softmax)
                a = rowsWhere(a, valid, rowLen);
                t = rowsWhere(t, valid, rowLen);
                h = rowsWhere(h, valid, rowLen);
            } else if (o == 1) {
                a = lseWhere(a, valid, c);
                t = lseWhere(t, valid, c);
                h = lseWhere(h, valid, c);
            }
            assertClose(names[o] + " vs torch", a, t, tol[o], msg);
            assertClose(names[o] + " vs cpu", a, h, tol[o], msg);
        }
    }

    /**
     * Relative norm error below tol; a reference whose RMS is below 1e-3 (dq of a one-token
     * sequence: softmax over one key has no gradient, both sides are rounding noise) is compared by
     * absolute RMS instead.
     */
    private static void assertClose(String what, float[] ours, float[] ref, double tol, String msg) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) ours[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        double n = Math.max(1, ref.length);
        double err = den < 1e-6 * n ? Math.sqrt(num / n) : Math.sqrt(num / den);
        synchronized (MAX_ERR) {
            MAX_ERR.merge(what, err, Math::max);
        }
        assertTrue(err < tol, what + ": error " + err + " >= " + tol + ", " + msg);
    }

    // ---- inputs ---------------------------------------------------------------------------------

    /** Segment ids per token (all 1 for CAUSAL, which passes null to the kernels). */
    private static int[] segments(Case c, Random rng) {
        int[] seg = new int[c.b * c.t];
        for (int b = 0; b < c.b; b++) {
            int row = b * c.t;
            switch (c.layout) {
                case CAUSAL -> Arrays.fill(seg, row, row + c.t, 1);
                case PADDED -> Arrays.fill(seg, row, row + (b == 0 ? c.t : 1 + rng.nextInt(c.t)), 1);
                case PACKED -> {  // 2-3 sequences of random lengths, sometimes a padded tail
                    int n = Math.min(c.t, 2 + rng.nextInt(2));
                    int end = rng.nextBoolean() ? c.t : Math.max(n, c.t - rng.nextInt(Math.max(1, c.t / 4)));
                    int start = 0;
                    for (int id = 1; id <= n; id++) {
                        int stop = id == n ? end : Math.min(start + 1 + rng.nextInt(Math.max(1, end - start - (n - id))), end - (n - id));
                        Arrays.fill(seg, row + start, row + stop, id);
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

    private static float[] bf16(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.intBitsToFloat(bf16Bits(v[i]) << 16);
        return out;
    }

    /** Round to nearest even (the values here are finite). */
    private static int bf16Bits(float f) {
        int u = Float.floatToRawIntBits(f);
        return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }

    /** A BF16 device tensor holding v; unaligned: starting 2 bytes past a 16-byte boundary. */
    private static Tensor upload(Arena arena, float[] v, boolean unaligned, long... shape) {
        int off = unaligned ? 1 : 0;
        Tensor t = dev.allocate(arena, DType.BF16, v.length + off);
        short[] h = new short[v.length + off];
        for (int i = 0; i < v.length; i++) h[i + off] = (short) bf16Bits(v[i]);
        dev.upload(t, MemorySegment.ofArray(h));
        return Tensor.wrap(t.data().asSlice(2L * off, 2L * v.length), DType.BF16, shape);
    }

    private static Tensor f32(Arena arena, float[] v, long... shape) {
        Tensor t = dev.allocate(arena, DType.F32, shape);
        dev.upload(t, MemorySegment.ofArray(v));
        return t;
    }

    private static float[] download(Tensor t) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(t.byteSize(), 8);
            dev.download(host, t);
            return Tensor.wrap(host, t.dtype(), t.shape()).toFloatArray();
        }
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
        for (int b = 0; b < c.b; b++)
            for (int h = 0; h < c.hq; h++)
                for (int t = 0; t < c.t; t++)
                    if (valid[b * c.t + t]) out[n++] = x[(b * c.hq + h) * c.t + t];
        return Arrays.copyOf(out, n);
    }

    // ---- references -----------------------------------------------------------------------------

    /** The CPU backend (fp32) on the same values: {out, lse, dq, dk, dv}. */
    private static float[][] cpuBackend(Case c, float[] q, float[] k, float[] v, float[] g, int[] seg) {
        int nq = q.length, nk = k.length;
        try (Arena arena = Arena.ofConfined()) {
            Tensor tq = Tensor.of(arena, q, c.b, c.t, c.hq, c.d), tk = Tensor.of(arena, k, c.b, c.t, c.hkv, c.d);
            Tensor tv = Tensor.of(arena, v, c.b, c.t, c.hkv, c.d), tg = Tensor.of(arena, g, c.b, c.t, c.hq, c.d);
            Tensor ts = c.layout == Layout.CAUSAL ? null : Tensor.ofInts(arena, seg, c.b, c.t);
            Tensor out = Tensor.allocate(arena, DType.F32, c.b, c.t, c.hq, c.d), lse = Tensor.allocate(arena, DType.F32, c.b, c.hq, c.t);
            Tensor dq = Tensor.allocate(arena, DType.F32, nq), dk = Tensor.allocate(arena, DType.F32, nk);
            Tensor dv = Tensor.allocate(arena, DType.F32, nk);
            cpu.attentionForward(out, lse, tq, tk, tv, ts, c.shape());
            cpu.attentionBackward(dq, dk, dv, tg, out, lse, tq, tk, tv, ts, c.shape());
            return new float[][] {out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dk.toFloatArray(), dv.toFloatArray()};
        }
    }
}
