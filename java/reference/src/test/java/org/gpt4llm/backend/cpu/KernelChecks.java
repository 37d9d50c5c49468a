package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.testing.Numerics;

/**
 * Shared plumbing of the kernel tests: running a check on the AVX2 or the scalar path,
 * comparing with libtorch by relative norm error, and keeping the largest error seen per quantity
 * so each test class can print it. The comparison methods are public for the device kernel tests.
 */
public final class KernelChecks {
    private KernelChecks() {}

    /** fp32 kernels against libtorch fp32: a few ulps of accumulated rounding, no more. */
    static final double FP32_TOL = 1e-5;

    private static final Map<String, Double> MAX_ERR = new TreeMap<>();

    static String path(boolean scalar) {
        return scalar ? "scalar" : "avx2";
    }

    /** Runs {@code body} with the scalar fallback forced (or not), always restoring the default. */
    static void onPath(boolean scalar, Runnable body) {
        CpuKernels.forceScalar(scalar);
        try {
            if (scalar) assertEquals(0, CpuKernels.simdLevel(), "forcing the scalar path did not take");
            body.run();
        } finally {
            CpuKernels.forceScalar(false);
        }
    }

    /** Records an error measured by the caller. */
    public static void record(String what, double err) {
        synchronized (MAX_ERR) {
            MAX_ERR.merge(what, err, Math::max);
        }
    }

    /** Asserts relErr(ours, ref) < tol and records it under {@code what}. */
    public static double assertClose(String what, float[] ours, float[] ref, double tol, String context) {
        double err = Numerics.relErr(ours, ref);
        record(what, err);
        assertTrue(err < tol, what + ": relative error " + err + " >= " + tol + " (" + context + ")");
        return err;
    }

    /**
     * Like {@link #assertClose} but measures the error against the larger of ||ref|| and ||scale||:
     * for a result that is a difference of terms of size ||scale|| (RMSNorm's dx at C=1 is
     * rstd*g*(1 - x^2 rstd^2), almost all cancellation) rounding is only meaningful relative to the
     * terms, not to what is left of them. The same holds for an accumulated output compared with
     * prefill + gradient: ||prefill|| is a fair scale.
     */
    public static double assertCloseScaled(String what, float[] ours, float[] ref, float[] scale, double tol, String context) {
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
    public static void report(String prefix) {
        synchronized (MAX_ERR) {
            MAX_ERR.forEach((k, v) -> {
                if (k.startsWith(prefix)) System.out.printf("max relative error %-28s %.3e%n", k, v);
            });
        }
    }

    /** A float32 libtorch leaf that records gradients. */
    public static org.bytedeco.pytorch.Tensor leaf(float[] v, long... shape) {
        org.bytedeco.pytorch.Tensor t = Torch.floats(v, shape);
        t.requires_grad_(true);
        return t;
    }

    /** Backpropagates {@code upstream} (same shape as {@code out}) through libtorch's graph. */
    public static void backward(org.bytedeco.pytorch.Tensor out, float[] upstream) {
        out.backward(Torch.floats(upstream, out.shape()), new BoolOptional(), false,
                new TensorArrayRefOptional());
    }

    public static float[] add(float[] a, float[] b) {
        float[] c = new float[a.length];
        for (int i = 0; i < c.length; i++) c[i] = a[i] + b[i];
        return c;
    }

    public static float[] sub(float[] a, float[] b) {
        float[] c = new float[a.length];
        for (int i = 0; i < c.length; i++) c[i] = a[i] - b[i];
        return c;
    }

    /** losses and dlogits from libtorch: cross_entropy(reduction=none), then (sum * gradScale).backward(). */
    public static float[][] crossEntropyReference(float[] logits, int[] targets, int n, int v, int ignore, float gradScale) {
        try (PointerScope scope = new PointerScope()) {
            var x = leaf(logits, n, v);
            var losses = torch.cross_entropy_loss(x, Torch.longs(targets, n), new TensorOptional(), 0, ignore, 0.0);
            losses.sum().mul(new Scalar(gradScale)).backward();
            return new float[][] {Torch.toFloats(losses), Torch.toFloats(x.grad())};
        }
    }

    /**
     * libtorch autograd attention, explicit scores with an additive -1e30 mask (key j visible to query i
     * iff j <= i and seg[j] == seg[i] != 0): {out [B,T,Hq,D], lse [B,Hq,T], dq, dk, dv} for the loss
     * sum(out * g) over the non-padding queries.
     */
    public static float[][] attentionReference(float[] q, float[] k, float[] v, float[] g, int[] seg,
                                               org.gpt4llm.backend.Backend.AttentionShape s) {
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
                if (si == 0) java.util.Arrays.fill(gm, (b * T + i) * hq * d, (b * T + i + 1) * hq * d, 0f);
            }
        }
        int[] kvHead = new int[hq];
        for (int h = 0; h < hq; h++) kvHead[h] = h / (hq / hkv);
        try (PointerScope scope = new PointerScope()) {
            var tq = Torch.floats(q, B, T, hq, d);
            var tk = Torch.floats(k, B, T, hkv, d);
            var tv = Torch.floats(v, B, T, hkv, d);
            tq.set_requires_grad(true);
            tk.set_requires_grad(true);
            tv.set_requires_grad(true);
            var idx = Torch.longs(kvHead, hq);
            var Q = tq.permute(0, 2, 1, 3);                               // [B,Hq,T,D]
            var K = tk.permute(0, 2, 1, 3).index_select(1, idx);          // [B,Hq,T,D]
            var V = tv.permute(0, 2, 1, 3).index_select(1, idx);
            var S = Q.matmul(K.transpose(2, 3)).mul(new Scalar(s.scale()))
                    .add(Torch.floats(bias, B, 1, T, T));                 // [B,Hq,T,T]
            var O = S.softmax(3).matmul(V).permute(0, 2, 1, 3).contiguous(); // [B,T,Hq,D]
            var lse = S.logsumexp(new long[] {3}, false);                 // [B,Hq,T]
            O.mul(Torch.floats(gm, B, T, hq, d)).sum().backward();
            return new float[][] {Torch.toFloats(O), Torch.toFloats(lse), Torch.toFloats(tq.grad()),
                    Torch.toFloats(tk.grad()), Torch.toFloats(tv.grad())};
        }
    }

    /**
     * libtorch attention of Tq new queries against a KV cache: q [B,Tq,Hq,D], caches [B,Tmax,Hkv,D];
     * query t of row b at p = lengths[b] - Tq + t sees keys 0..p through an additive -1e30 mask, and
     * its output is zeroed where p < 0. Returns out [B,Tq,Hq,D].
     */
    public static float[] attentionDecodeReference(float[] q, float[] kCache, float[] vCache, int[] lengths,
                                                   org.gpt4llm.backend.Backend.DecodeShape s) {
        int B = s.batch(), tq = s.newTokens(), tmax = s.maxLength(), hq = s.heads(), hkv = s.kvHeads(), d = s.headDim();
        float[] bias = new float[B * tq * tmax];   // [B,1,Tq,Tmax]
        float[] keep = new float[B * tq * hq * d]; // 1 where the query is not padding
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < tq; t++) {
                int p = lengths[b] - tq + t;
                for (int j = 0; j < tmax; j++) bias[(b * tq + t) * tmax + j] = p >= 0 && j <= p ? 0f : -1e30f;
                if (p >= 0) java.util.Arrays.fill(keep, (b * tq + t) * hq * d, (b * tq + t + 1) * hq * d, 1f);
            }
        }
        int[] kvHead = new int[hq];
        for (int h = 0; h < hq; h++) kvHead[h] = h / (hq / hkv);
        try (PointerScope scope = new PointerScope()) {
            var idx = Torch.longs(kvHead, hq);
            var Q = Torch.floats(q, B, tq, hq, d).permute(0, 2, 1, 3);                            // [B,Hq,Tq,D]
            var K = Torch.floats(kCache, B, tmax, hkv, d).permute(0, 2, 1, 3).index_select(1, idx); // [B,Hq,Tmax,D]
            var V = Torch.floats(vCache, B, tmax, hkv, d).permute(0, 2, 1, 3).index_select(1, idx);
            var S = Q.matmul(K.transpose(2, 3)).mul(new Scalar(s.scale())).add(Torch.floats(bias, B, 1, tq, tmax));
            var O = S.softmax(3).matmul(V).permute(0, 2, 1, 3).contiguous().mul(Torch.floats(keep, B, tq, hq, d));
            return Torch.toFloats(O);
        }
    }

    /** {@code cache} [B,Tmax,W] after writing src [B,Tq,W] row t of row b at position lengths[b] - Tq + t (when >= 0). */
    public static float[] kvCacheWriteReference(float[] cache, float[] src, int[] lengths,
                                                org.gpt4llm.backend.Backend.DecodeShape s) {
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
