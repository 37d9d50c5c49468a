package org.gpt4llm.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchLlama;
import org.gpt4llm.tensor.DType;

/**
 * Our native CPU kernels ({@code libgpt4llm_cpu}, the ones {@code CpuBackend} calls) against the
 * same operation in libtorch, on the same data and with the same thread count, plus the two
 * ceilings every CPU figure is read against: OpenBLAS sgemm (square, all threads) and memory
 * bandwidth (a large {@code y = a + b}).
 *
 * <p>Each case first runs both sides once from identical inputs and compares the results (relative
 * L2 error, {@code ||ours - torch|| / ||torch||}), so a fast wrong kernel cannot look good; then it
 * times blocks of calls of one side and then the other (a short pause before each block lets the other
 * side's OpenMP threads go to sleep), and reports the median call of each side.
 *
 * <p>Memory-bound kernels report GB/s of the minimum traffic (each input read once, each output
 * written once, fp32), to be read against the measured bandwidth; attention reports GFLOP/s, to be
 * read against sgemm. libtorch's side is what a PyTorch program calls for the same step: fused ops
 * where libtorch has them (rms_norm, scaled_dot_product_attention, cross_entropy, AdamW), the
 * composition of ops otherwise (SwiGLU, RoPE), and autograd for the backward passes.
 *
 * <p>Threads: ours and libtorch's intra-op pool both get {@code threads}. libtorch's own OpenBLAS (a
 * pthreads build) gets {@code threads} for the sgemm ceiling and 1 for the kernels: its fused attention
 * calls BLAS from inside its OpenMP loop, and a second pool of spinning threads nested there made a
 * call some 30 times slower on 2 cores.
 */
public final class CpuKernelBench {
    /** Results that differ by more than this (relative L2) are marked as a mismatch. */
    public static final double TOLERANCE = 1e-3;

    /**
     * The data sizes: the layer of a TinyLlama-1.1B-shaped training step by default (tokens = batch x
     * seq), small ones for {@code --quick}.
     */
    public record Shape(int batch, int seq, int hidden, int heads, int kvHeads, int headDim, int ffn, int vocab,
                        int ceRows, int adamN, int bandwidthN, int sgemmN) {
        public int tokens() {
            return batch * seq;
        }

        public static Shape full() {
            return new Shape(2, 512, 2048, 32, 4, 64, 5632, 32000, 1024, 8 << 20, 16 << 20, 2048);
        }

        public static Shape quick() {
            return new Shape(2, 32, 128, 4, 2, 32, 344, 1000, 64, 1 << 16, 1 << 20, 256);
        }

        public String describe() {
            return String.format(Locale.ROOT, "tokens %d (batch %d x seq %d), hidden %d, heads %d/%d x %d, ffn %d,"
                            + " cross-entropy %d x %d, AdamW %,d params, bandwidth 3 x %,d floats, sgemm %d^3",
                    tokens(), batch, seq, hidden, heads, kvHeads, headDim, ffn, ceRows, vocab, adamN, bandwidthN, sgemmN);
        }
    }

    /** @param secondsPerSide timing budget per side and case (at least 3 calls each) */
    public record Options(Shape shape, int threads, double secondsPerSide, long seed) {}

    /**
     * One case: {@code ours} and {@code peer} in {@code unit} (GB/s or GFLOP/s, higher is better),
     * the median call times, the work per call ({@code work} bytes or FLOPs), and the result check.
     */
    public record Row(String name, String unit, double ours, double peer, double oursS, double peerS, double work,
                      double relErr, String peerName) {
        public double ratio() {
            return ours / peer;
        }

        public boolean agrees() {
            return relErr <= TOLERANCE;
        }

        /** The faster side: a ceiling is what the machine allows, whichever library reached it. */
        public double best() {
            return Math.max(ours, peer);
        }
    }

    /** The ceilings and the kernels, in that order; shape and threads as run. */
    public record Result(Shape shape, int threads, Row sgemm, Row bandwidth, List<Row> kernels) {
        public long mismatches() {
            return kernels.stream().filter(r -> !r.agrees()).count() + (sgemm.agrees() ? 0 : 1)
                    + (bandwidth.agrees() ? 0 : 1);
        }
    }

    private CpuKernelBench() {}

    public static Result run(Options o, PrintStream progress) {
        Shape s = o.shape();
        CpuKernels.setNumThreads(o.threads());
        OpenBlas.setNumThreads(o.threads());
        Torch.setThreads(o.threads());
        try (Arena arena = Arena.ofShared(); Cases c = new Cases(arena, s, o, progress)) {
            Row sgemm = c.sgemm();
            // libtorch's kernels parallelise with OpenMP themselves; the OpenBLAS they call from inside
            // those loops (attention's blocks) must not start threads of its own on the same cores. In
            // this process that setting is shared with our OpenBLAS, which none of our kernels calls.
            Torch.setThreads(o.threads(), 1);
            Row bandwidth = c.bandwidth();
            List<Row> kernels = new ArrayList<>();
            kernels.add(c.rmsnormFwd());
            kernels.add(c.rmsnormFwdBwd());
            kernels.add(c.attentionFwd());
            kernels.add(c.attentionFwdBwd());
            kernels.add(c.crossEntropy());
            kernels.add(c.swigluFwd());
            kernels.add(c.swigluFwdBwd());
            kernels.add(c.ropeFwd());
            kernels.add(c.adamw());
            kernels.add(c.gemv(1));
            kernels.add(c.gemv(8));
            return new Result(s, o.threads(), sgemm, bandwidth, kernels);
        } finally {
            Torch.setThreads(o.threads());
        }
    }

    /**
     * The memory-bandwidth ceiling alone, the same measurement as the suite's row, for a bench that reads
     * its own rate against it in the same run.
     */
    public static Row bandwidth(Shape s, int threads, double secondsPerSide, long seed) {
        CpuKernels.setNumThreads(threads);
        Torch.setThreads(threads, 1);
        try (Arena arena = Arena.ofShared(); Cases c = new Cases(arena, s, new Options(s, threads, secondsPerSide, seed), null)) {
            return c.bandwidth();
        } finally {
            Torch.setThreads(threads);
        }
    }

    /** The cases; each holds its inputs in native memory (ours) and in libtorch tensors (theirs). */
    private static final class Cases implements AutoCloseable {
        /** libtorch objects that outlive a PointerScope, released at the end. */
        private final List<org.bytedeco.javacpp.Pointer> kept = new ArrayList<>();
        private final Arena arena;
        private final Shape s;
        private final Options o;
        private final PrintStream progress;
        private final SplittableRandom rng;

        Cases(Arena arena, Shape s, Options o, PrintStream progress) {
            this.arena = arena;
            this.s = s;
            this.o = o;
            this.progress = progress;
            this.rng = new SplittableRandom(o.seed());
        }

        float[] random(long n, double scale) {
            float[] x = new float[Math.toIntExact(n)];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rng.nextGaussian() * scale);
            return x;
        }

        MemorySegment seg(float[] v) {
            MemorySegment m = arena.allocate((long) v.length * Float.BYTES, 64);
            MemorySegment.copy(v, 0, m, JAVA_FLOAT, 0, v.length);
            return m;
        }

        MemorySegment ints(int[] v) {
            MemorySegment m = arena.allocate((long) v.length * Integer.BYTES, 64);
            MemorySegment.copy(v, 0, m, JAVA_INT, 0, v.length);
            return m;
        }

        MemorySegment zeros(long n) {
            return arena.allocate(n * Float.BYTES, 64);
        }

        static float[] read(MemorySegment m) {
            return m.toArray(JAVA_FLOAT);
        }

        /** A libtorch copy of {@code v}, kept alive past any PointerScope until {@link #close}. */
        Tensor keep(float[] v, long... shape) {
            return keep(Torch.floats(v, shape));
        }

        <P extends org.bytedeco.javacpp.Pointer> P keep(P p) {
            p.retainReference();
            kept.add(p);
            return p;
        }

        @Override
        public void close() {
            for (var p : kept) p.releaseReference();
            kept.clear();
        }

        Row row(String name, String unit, double work, double relErr, Runnable ours, Runnable peer, String peerName) {
            double[] t = timePair(ours, peer, o.secondsPerSide());
            double scale = unit.equals("GB/s") || unit.equals("GFLOP/s") ? 1e9 : 1;
            Row r = new Row(name, unit, work / t[0] / scale, work / t[1] / scale, t[0], t[1], work, relErr, peerName);
            if (progress != null) {
                progress.printf(Locale.ROOT, "kernel %-24s ours %9.3f ms  libtorch %9.3f ms  %8.2f vs %8.2f %s  rel err %.1e%n",
                        name, 1e3 * t[0], 1e3 * t[1], r.ours(), r.peer(), unit, relErr);
            }
            return r;
        }

        // ---- ceilings ----

        /** C[n,n] = A·B, row-major: OpenBLAS (the GEMM of our CPU backend) against libtorch's mm (its own OpenBLAS). */
        Row sgemm() {
            int n = s.sgemmN();
            float[] a = random((long) n * n, 1), b = random((long) n * n, 1);
            MemorySegment ma = seg(a), mb = seg(b), mc = zeros((long) n * n);
            Tensor ta = keep(a, n, n), tb = keep(b, n, n), tc = keep(new float[n * n], n, n);
            Runnable ours = () -> OpenBlas.sgemm(o.threads(), false, false, n, n, n, 1f, ma, n, mb, n, 0f, mc, n);
            Runnable peer = () -> torch.mm_out(tc, ta, tb);
            ours.run();
            peer.run();
            double err = relErr(read(mc), Torch.toFloats(tc));
            return row("sgemm " + n + "^3", "GFLOP/s", 2.0 * n * n * n, err, ours, peer, "libtorch mm");
        }

        /**
         * y = a + b over three arrays far larger than the caches: our {@code g4_add} against libtorch's
         * add(out=), 12 bytes a float (two reads, one write; the write-allocate read is not counted, as
         * in STREAM).
         */
        Row bandwidth() {
            int n = s.bandwidthN();
            float[] a = random(n, 1), b = random(n, 1);
            MemorySegment ma = seg(a), mb = seg(b), my = zeros(n);
            Tensor ta = keep(a, n), tb = keep(b, n), ty = keep(new float[n], n);
            Runnable ours = () -> CpuKernels.add(my, ma, mb, n);
            Runnable peer = () -> torch.add_out(ty, ta, tb);
            ours.run();
            peer.run();
            double err = relErr(read(my), Torch.toFloats(ty));
            return row("memory bandwidth (y=a+b)", "GB/s", 12.0 * n, err, ours, peer, "libtorch add");
        }

        // ---- kernels ----

        /** y = x * rsqrt(mean(x²) + eps) * w over [tokens, hidden]: x and y once, 8 bytes a float. */
        Row rmsnormFwd() {
            int n = s.tokens(), c = s.hidden();
            float eps = 1e-5f;
            float[] x = random((long) n * c, 1), w = random(c, 1);
            MemorySegment mx = seg(x), mw = seg(w), my = zeros((long) n * c), rstd = zeros(n);
            Tensor tx = keep(x, n, c), tw = keep(w, c);
            Runnable ours = () -> CpuKernels.rmsnormFwd(my, rstd, mx, mw, n, c, eps);
            float[][] ref = new float[1][];
            Runnable peer = () -> {
                try (PointerScope scope = new PointerScope()) {
                    Tensor y = torch.rms_norm(tx, new long[] {c}, new TensorOptional(tw), new DoubleOptional(eps));
                    if (ref[0] == null) ref[0] = Torch.toFloats(y);
                }
            };
            ours.run();
            peer.run();
            double err = relErr(read(my), ref[0]);
            return row("rmsnorm fwd", "GB/s", 8.0 * n * c, err, ours, peer, "libtorch rms_norm");
        }

        /** forward then backward (dx, dw): 8 bytes a float forward, 12 backward (dy, x read; dx written). */
        Row rmsnormFwdBwd() {
            int n = s.tokens(), c = s.hidden();
            float eps = 1e-5f;
            float[] x = random((long) n * c, 1), w = random(c, 1), dy = random((long) n * c, 1);
            MemorySegment mx = seg(x), mw = seg(w), mdy = seg(dy), my = zeros((long) n * c), rstd = zeros(n);
            MemorySegment mdx = zeros((long) n * c), mdw = zeros(c);
            Tensor tx = keep(x, n, c), tw = keep(w, c), tdy = keep(dy, n, c);
            Runnable ours = () -> {
                CpuKernels.rmsnormFwd(my, rstd, mx, mw, n, c, eps);
                CpuKernels.rmsnormBwd(mdx, mdw, mdy, mx, mw, rstd, n, c);   // dx, dw accumulate
            };
            float[][] ref = new float[2][];
            Runnable peer = () -> {
                try (PointerScope scope = new PointerScope()) {
                    Tensor xl = tx.detach().requires_grad_(true), wl = tw.detach().requires_grad_(true);
                    Tensor y = torch.rms_norm(xl, new long[] {c}, new TensorOptional(wl), new DoubleOptional(eps));
                    backward(y, tdy);
                    if (ref[0] == null) {
                        ref[0] = Torch.toFloats(xl.grad());
                        ref[1] = Torch.toFloats(wl.grad());
                    }
                }
            };
            ours.run();
            peer.run();
            double err = Math.max(relErr(read(mdx), ref[0]), relErr(read(mdw), ref[1]));
            return row("rmsnorm fwd+bwd", "GB/s", 20.0 * n * c, err, ours, peer, "libtorch rms_norm+autograd");
        }

        /** Causal attention forward FLOPs: QKᵀ and PV, 2·T²·D each per head, halved by the mask. */
        double attentionFlops() {
            return 2.0 * s.batch() * s.heads() * (double) s.seq() * s.seq() * s.headDim();
        }

        Row attentionFwd() {
            int b = s.batch(), t = s.seq(), hq = s.heads(), hkv = s.kvHeads(), d = s.headDim();
            float scale = (float) (1 / Math.sqrt(d));
            float[] q = random((long) b * t * hq * d, 1), k = random((long) b * t * hkv * d, 1), v = random((long) b * t * hkv * d, 1);
            MemorySegment mq = seg(q), mk = seg(k), mv = seg(v), mo = zeros(q.length), lse = zeros((long) b * hq * t);
            Tensor tq = keep(q, b, t, hq, d), tk = keep(k, b, t, hkv, d), tv = keep(v, b, t, hkv, d);
            Runnable ours = () -> CpuKernels.attentionFwd(mo, lse, mq, mk, mv, MemorySegment.NULL, b, t, hq, hkv, d, scale);
            float[][] ref = new float[1][];
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    Tensor out = sdpa(tq, tk, tv, scale);
                    if (ref[0] == null) ref[0] = Torch.toFloats(out.transpose(1, 2));
                }
            };
            ours.run();
            peer.run();
            double err = relErr(read(mo), ref[0]);
            return row("attention fwd (causal)", "GFLOP/s", attentionFlops(), err, ours, peer, "libtorch sdpa");
        }

        /** Forward and backward: the backward's five matmuls (scores recomputed, dV, dP, dQ, dK) make 2.5x the forward. */
        Row attentionFwdBwd() {
            int b = s.batch(), t = s.seq(), hq = s.heads(), hkv = s.kvHeads(), d = s.headDim();
            float scale = (float) (1 / Math.sqrt(d));
            float[] q = random((long) b * t * hq * d, 1), k = random((long) b * t * hkv * d, 1), v = random((long) b * t * hkv * d, 1);
            float[] dout = random(q.length, 1);
            MemorySegment mq = seg(q), mk = seg(k), mv = seg(v), mdo = seg(dout), mo = zeros(q.length),
                    lse = zeros((long) b * hq * t), dq = zeros(q.length), dk = zeros(k.length), dv = zeros(v.length);
            Tensor tq = keep(q, b, t, hq, d), tk = keep(k, b, t, hkv, d), tv = keep(v, b, t, hkv, d);
            Tensor tdo = keep(dout, b, t, hq, d);
            Runnable ours = () -> {
                CpuKernels.attentionFwd(mo, lse, mq, mk, mv, MemorySegment.NULL, b, t, hq, hkv, d, scale);
                CpuKernels.attentionBwd(dq, dk, dv, mdo, mo, lse, mq, mk, mv, MemorySegment.NULL, b, t, hq, hkv, d, scale);
            };
            float[][] ref = new float[3][];
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    Tensor ql = tq.detach().requires_grad_(true), kl = tk.detach().requires_grad_(true),
                            vl = tv.detach().requires_grad_(true);
                    Tensor out = sdpa(ql, kl, vl, scale);
                    backward(out, tdo.transpose(1, 2));
                    if (ref[0] == null) {
                        ref[0] = Torch.toFloats(ql.grad());
                        ref[1] = Torch.toFloats(kl.grad());
                        ref[2] = Torch.toFloats(vl.grad());
                    }
                }
            };
            ours.run();
            peer.run();
            double err = Math.max(relErr(read(dq), ref[0]), Math.max(relErr(read(dk), ref[1]), relErr(read(dv), ref[2])));
            return row("attention fwd+bwd (causal)", "GFLOP/s", 3.5 * attentionFlops(), err, ours, peer,
                    "libtorch sdpa+autograd");
        }

        /** softmax(q kᵀ·scale, causal) v of [B,T,H,D] tensors through libtorch's fused kernel (GQA), as [B,H,T,D]. */
        static Tensor sdpa(Tensor q, Tensor k, Tensor v, float scale) {
            return torch.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                    new TensorOptional(), 0.0, true, new DoubleOptional(scale), true);
        }

        /** Mean softmax cross-entropy over [rows, vocab] logits and its gradient: logits read, dlogits written. */
        Row crossEntropy() {
            int n = s.ceRows(), v = s.vocab();
            float[] logits = random((long) n * v, 2);
            int[] targets = new int[n];
            for (int i = 0; i < n; i++) targets[i] = rng.nextInt(v);
            MemorySegment ml = seg(logits), mt = ints(targets), losses = zeros(n), dl = zeros((long) n * v);
            Tensor tl = keep(logits, n, v);
            Tensor tt = keep(Torch.longs(targets, n));
            Runnable ours = () -> CpuKernels.crossEntropy(losses, dl, ml, mt, n, v, -100, 1f / n);
            float[][] ref = new float[2][];
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    Tensor x = tl.detach().requires_grad_(true);
                    Tensor loss = torch.cross_entropy_loss(x, tt, new TensorOptional(), 1, -100, 0.0);   // mean
                    loss.backward();
                    if (ref[0] == null) {
                        ref[0] = new float[] {loss.item_float()};
                        ref[1] = Torch.toFloats(x.grad());
                    }
                }
            };
            ours.run();
            peer.run();
            double mean = 0;
            for (float l : read(losses)) mean += l;
            mean /= n;
            double err = Math.max(Math.abs(mean - ref[0][0]) / Math.abs(ref[0][0]), relErr(read(dl), ref[1]));
            return row("cross-entropy fwd+bwd", "GB/s", 8.0 * n * v, err, ours, peer, "libtorch cross_entropy");
        }

        /**
         * y[rows, ffn] = x[rows, hidden]·Wᵀ with W [ffn, hidden] fp32, a linear layer of a decode step:
         * bound by reading W (counted alone, once per call whatever the rows); libtorch's mm calls its BLAS.
         */
        Row gemv(int rows) {
            int f = s.ffn(), h = s.hidden();
            float[] x = random((long) rows * h, 1), w = random((long) f * h, 0.02);
            MemorySegment mx = seg(x), mw = seg(w), my = zeros((long) rows * f);
            Tensor tx = keep(x, rows, h), tw = keep(w, f, h), ty = keep(new float[rows * f], rows, f);
            Tensor twt = keep(tw.t());
            Runnable ours = () -> CpuKernels.gemv(my, f, mx, h, mw, DType.F32, h, rows, f, h, 1f, 0f);
            Runnable peer = () -> torch.mm_out(ty, tx, twt);
            ours.run();
            peer.run();
            return row("gemv decode " + rows + (rows == 1 ? " row" : " rows"), "GB/s", 4.0 * f * h,
                    relErr(read(my), Torch.toFloats(ty)), ours, peer, "libtorch mm x·Wᵀ");
        }

        /** h = silu(g)·u over [tokens, ffn]: g, u read, h written. */
        Row swigluFwd() {
            int n = s.tokens() * s.ffn();
            float[] g = random(n, 1), u = random(n, 1);
            MemorySegment mg = seg(g), mu = seg(u), mh = zeros(n);
            Tensor tg = keep(g, n), tu = keep(u, n);
            Runnable ours = () -> CpuKernels.swigluFwd(mh, mg, mu, n);
            float[][] ref = new float[1][];
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    Tensor h = torch.silu(tg).mul(tu);
                    if (ref[0] == null) ref[0] = Torch.toFloats(h);
                }
            };
            ours.run();
            peer.run();
            return row("swiglu fwd", "GB/s", 12.0 * n, relErr(read(mh), ref[0]), ours, peer, "libtorch silu*mul");
        }

        /** Forward (12 bytes a float) then backward: dh, g, u read, dg, du written (20 bytes). */
        Row swigluFwdBwd() {
            int n = s.tokens() * s.ffn();
            float[] g = random(n, 1), u = random(n, 1), dh = random(n, 1);
            MemorySegment mg = seg(g), mu = seg(u), mdh = seg(dh), mh = zeros(n), dg = zeros(n), du = zeros(n);
            Tensor tg = keep(g, n), tu = keep(u, n), tdh = keep(dh, n);
            Runnable ours = () -> {
                CpuKernels.swigluFwd(mh, mg, mu, n);
                CpuKernels.swigluBwd(dg, du, mdh, mg, mu, n);
            };
            float[][] ref = new float[2][];
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    Tensor gl = tg.detach().requires_grad_(true), ul = tu.detach().requires_grad_(true);
                    backward(torch.silu(gl).mul(ul), tdh);
                    if (ref[0] == null) {
                        ref[0] = Torch.toFloats(gl.grad());
                        ref[1] = Torch.toFloats(ul.grad());
                    }
                }
            };
            ours.run();
            peer.run();
            double err = Math.max(relErr(read(dg), ref[0]), relErr(read(du), ref[1]));
            return row("swiglu fwd+bwd", "GB/s", 32.0 * n, err, ours, peer, "libtorch silu*mul+autograd");
        }

        /**
         * Rotary embedding of the queries [tokens, heads, D] (x read and written, 8 bytes a float); ours
         * rotates in place computing the angles itself, libtorch computes the cos/sin tables from the
         * positions and applies rotate_half, as HF's LLaMA does every forward.
         */
        Row ropeFwd() {
            int b = s.batch(), t = s.seq(), h = s.heads(), d = s.headDim(), n = b * t;
            float theta = 10000f;
            float[] x = random((long) n * h * d, 1);
            int[] pos = new int[n];
            float[] posF = new float[n];
            for (int i = 0; i < n; i++) posF[i] = pos[i] = i % t;
            MemorySegment mx = seg(x), mpos = ints(pos);
            Tensor tx = keep(x, b, t, h, d);
            Runnable ours = () -> CpuKernels.ropeFwd(mx, mpos, n, h, d, theta);
            float[][] ref = new float[1][];
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    Tensor[] cs = TorchLlama.rotaryTables(posF, b, t, d, theta);     // [B,T,D]
                    Tensor y = TorchLlama.applyRope(tx, cs[0].unsqueeze(2), cs[1].unsqueeze(2));
                    if (ref[0] == null) ref[0] = Torch.toFloats(y);
                }
            };
            ours.run();   // once from the original x: what the check compares
            peer.run();
            double err = relErr(read(mx), ref[0]);
            return row("rope fwd (q)", "GB/s", 8.0 * n * h * d, err, ours, peer, "libtorch rotate_half");
        }

        /** One AdamW step over a flat parameter: p, g, m, v read, p, m, v written (28 bytes a parameter). */
        Row adamw() {
            int n = s.adamN();
            float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
            float[] p = random(n, 0.02), g = random(n, 1e-3);
            MemorySegment mp = seg(p), mg = seg(g), mm = zeros(n), mv = zeros(n);
            int[] step = {0};
            Runnable ours = () -> CpuKernels.adamw(mp, mg, mm, mv, n, lr, b1, b2, eps, wd, ++step[0], 1f);
            Tensor tp = keep(p, n);
            tp.requires_grad_(true);
            AdamW opt;
            try (PointerScope sc = new PointerScope()) {
                tp.mul(Torch.floats(g, n)).sum().backward();   // p.grad = g
                opt = keep(new AdamW(new TensorVector(tp), Torch.adamWOptions(lr, b1, b2, eps, wd)));
            }
            Runnable peer = () -> {
                try (PointerScope sc = new PointerScope()) {
                    opt.step();
                }
            };
            ours.run();
            peer.run();
            double err;
            try (PointerScope sc = new PointerScope()) {
                err = relErr(read(mp), Torch.toFloats(tp.detach()));
            }
            return row("adamw step", "GB/s", 28.0 * n, err, ours, peer, "libtorch AdamW");
        }

        static void backward(Tensor out, Tensor upstream) {
            out.backward(upstream, new BoolOptional(), false, new TensorArrayRefOptional());
        }
    }

    /**
     * Median seconds of one call of each side. After one untimed call each, blocks of calls alternate
     * (ours, then libtorch, twice), each after a short pause, until each side has had its budget.
     */
    static double[] timePair(Runnable ours, Runnable peer, double budgetS) {
        Runnable[] sides = {ours, peer};
        double[] first = new double[2];
        for (int i = 0; i < 2; i++) {
            settle();
            long t0 = System.nanoTime();
            sides[i].run();
            first[i] = (System.nanoTime() - t0) / 1e9;
        }
        double[] med = new double[2];
        List<List<Double>> times = List.of(new ArrayList<>(), new ArrayList<>());
        int rounds = 2;
        for (int round = 0; round < rounds; round++) {
            for (int i = 0; i < 2; i++) {
                int calls = (int) Math.max(1, Math.min(50, budgetS / rounds / Math.max(first[i], 1e-6)));
                settle();
                for (int c = 0; c < calls; c++) {
                    long t0 = System.nanoTime();
                    sides[i].run();
                    times.get(i).add((System.nanoTime() - t0) / 1e9);
                }
            }
        }
        for (int i = 0; i < 2; i++) med[i] = StepBench.median(times.get(i).stream().mapToDouble(Double::doubleValue).toArray());
        return med;
    }

    /** A pause that lets the other library's idle OpenMP workers stop spinning (see StepBench). */
    private static void settle() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** ||a - b|| / ||b|| in double precision (0 when both are zero). */
    static double relErr(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalStateException("result sizes differ: " + a.length + " vs " + b.length);
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }
}
