package org.gpt4llm.reference;

import static org.gpt4llm.testing.DecoderInputs.lastTokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * Guards the oracle itself: {@link TorchLlama} against a plain float64 Java LLaMA written from the HF
 * definition (logits and loss), its autograd gradients against central finite differences of that
 * reference, and libtorch's AdamW with clipping against the update rule written out by hand.
 */
class TorchLlamaTest {
    /** GQA (4 query heads over 2 kv heads), odd sizes, packed sequences and padding in one batch. */
    private static final LlamaConfig GQA = LlamaConfig.builder().hiddenSize(24).intermediateSize(37).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(23).maxPositionEmbeddings(64).build();
    private static final LlamaConfig TIED = LlamaConfig.builder().hiddenSize(16).intermediateSize(20).numLayers(1)
            .numHeads(2).numKvHeads(2).rmsNormEps(1e-6f).ropeTheta(500f).vocabSize(19).tieWordEmbeddings(true)
            .maxPositionEmbeddings(64).build();

    @Test
    void forwardMatchesFloat64Reference() {
        for (LlamaConfig cfg : List.of(GQA, TIED)) {
            long seed = TestSeeds.next();
            Random rng = new Random(seed);
            Map<String, float[]> w = randomWeights(cfg, rng);
            TokenBatch b = mixedBatch(cfg.vocabSize(), rng);
            try (Arena arena = Arena.ofConfined(); TorchLlama m = new TorchLlama(cfg, tensors(arena, cfg, w), 2)) {
                float loss = m.forward(b);
                float[] logits = m.logits();
                Reference ref = new Reference(cfg, toDouble(w));
                double refLoss = ref.loss(b);
                double[] refLogits = ref.lastLogits;
                List<Float> got = new ArrayList<>(), want = new ArrayList<>();
                for (int n = 0; n < b.size(); n++) {
                    if (b.segments()[n] == 0) continue;
                    for (int v = 0; v < cfg.vocabSize(); v++) {
                        got.add(logits[n * cfg.vocabSize() + v]);
                        want.add((float) refLogits[n * cfg.vocabSize() + v]);
                    }
                }
                double errLogits = Numerics.relErr(unbox(got), unbox(want));
                System.out.printf("TorchLlama vs float64 reference (tied=%b): logits rel err %.2e, loss %.7f vs %.7f%n",
                        cfg.tieWordEmbeddings(), errLogits, loss, refLoss);
                assertTrue(errLogits < 1e-5, "seed " + seed + ": logits rel err " + errLogits);
                assertEquals(refLoss, loss, 1e-5 * Math.abs(refLoss), "seed " + seed + ": loss");
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        for (LlamaConfig cfg : List.of(GQA, TIED)) {
            long seed = TestSeeds.next();
            Random rng = new Random(seed);
            Map<String, float[]> w = randomWeights(cfg, rng);
            TokenBatch b = mixedBatch(cfg.vocabSize(), rng);
            try (Arena arena = Arena.ofConfined(); TorchLlama m = new TorchLlama(cfg, tensors(arena, cfg, w), 2)) {
                m.forward(b);
                m.backward();
                Map<String, float[]> grads = m.grads();
                Map<String, double[]> wd = toDouble(w);
                Reference ref = new Reference(cfg, wd);
                double err = finiteDifferenceRelErr(wd, grads, () -> ref.loss(b), rng);
                System.out.printf("TorchLlama autograd vs finite differences (tied=%b): rel err %.2e%n", cfg.tieWordEmbeddings(), err);
                assertTrue(err < 1e-3, "seed " + seed + ": autograd vs finite differences rel err " + err);
            }
        }
    }

    /** s = Σ over the last token of each sequence of hidden·v, back-propagated by {@link TorchLlama#backward(org.bytedeco.pytorch.Tensor)}. */
    @Test
    void hiddenStatesCarryGradientsOfAnyScalar() {
        LlamaConfig cfg = GQA;
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        Map<String, float[]> w = randomWeights(cfg, rng);
        TokenBatch b = mixedBatch(cfg.vocabSize(), rng);
        int c = cfg.hiddenSize();
        int[] last = lastTokens(b);
        float[] v = Numerics.normal(rng, c, 1f);
        try (Arena arena = Arena.ofConfined(); TorchLlama m = new TorchLlama(cfg, tensors(arena, cfg, w), 2)) {
            m.forward(b);
            float s;
            try (PointerScope scope = new PointerScope()) {
                org.bytedeco.pytorch.Tensor sum = m.hidden().reshape(b.size(), c)
                        .index_select(0, Torch.longs(last, last.length)).matmul(Torch.floats(v, c)).sum();
                s = sum.item_float();
                m.backward(sum);
            }
            Map<String, double[]> wd = toDouble(w);
            Reference ref = new Reference(cfg, wd);
            DoubleSupplier scalar = () -> {
                ref.loss(b);
                double total = 0;
                for (int row : last) for (int j = 0; j < c; j++) total += ref.lastHidden[row * c + j] * v[j];
                return total;
            };
            double want = scalar.getAsDouble();
            assertEquals(want, s, 1e-5 * termMagnitudes(ref.lastHidden, last, v), "seed " + seed + ": scalar on the hidden states");
            double err = finiteDifferenceRelErr(wd, m.grads(), scalar, rng);
            System.out.printf("TorchLlama hidden() + backward(scalar) vs finite differences: rel err %.2e%n", err);
            assertTrue(err < 1e-3, "seed " + seed + ": autograd vs finite differences rel err " + err);
        }
    }

    /**
     * Σ |hidden[row]·v| term by term over {@code rows}: the scale of fp32 rounding in Σ hidden[row]·v,
     * whose terms of both signs may cancel to far less than that.
     */
    static double termMagnitudes(double[] hidden, int[] rows, float[] v) {
        int c = v.length;
        double magnitude = 0;
        for (int row : rows) for (int j = 0; j < c; j++) magnitude += Math.abs(hidden[row * c + j] * v[j]);
        return magnitude;
    }

    /** Autograd's {@code grads} against central differences of {@code objective} at 4 random coordinates of every tensor of {@code w}. */
    private static double finiteDifferenceRelErr(Map<String, double[]> w, Map<String, float[]> grads, DoubleSupplier objective, Random rng) {
        List<Float> fd = new ArrayList<>(), ag = new ArrayList<>();
        double h = 1e-5;
        for (Map.Entry<String, double[]> e : w.entrySet()) {
            double[] p = e.getValue();
            for (int s = 0; s < 4; s++) {
                int i = rng.nextInt(p.length);
                double orig = p[i];
                p[i] = orig + h;
                double fp = objective.getAsDouble();
                p[i] = orig - h;
                double fm = objective.getAsDouble();
                p[i] = orig;
                fd.add((float) ((fp - fm) / (2 * h)));
                ag.add(grads.get(e.getKey())[i]);
            }
        }
        return Numerics.relErr(unbox(ag), unbox(fd));
    }

    @Test
    void adamWWithClippingMatchesTheUpdateRule() {
        LlamaConfig cfg = GQA;
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        Map<String, float[]> w = randomWeights(cfg, rng);
        float lr = 1e-2f, b1 = 0.8f, b2 = 0.95f, eps = 1e-8f, wdecay = 0.1f;
        Map<String, double[]> x = toDouble(w), mom = new LinkedHashMap<>(), vel = new LinkedHashMap<>();
        for (var e : x.entrySet()) {
            mom.put(e.getKey(), new double[e.getValue().length]);
            vel.put(e.getKey(), new double[e.getValue().length]);
        }
        try (Arena arena = Arena.ofConfined(); TorchLlama m = new TorchLlama(cfg, tensors(arena, cfg, w), 2)) {
            m.useAdamW(b1, b2, eps, wdecay);
            for (int step = 1; step <= 3; step++) {
                TokenBatch b = mixedBatch(cfg.vocabSize(), rng);
                m.forward(b);
                m.backward();
                Map<String, float[]> g = m.grads();
                double sq = 0;
                for (float[] gi : g.values()) for (float v : gi) sq += (double) v * v;
                double norm = Math.sqrt(sq), maxNorm = 0.5 * norm;    // always clips
                float got = m.step(lr, (float) maxNorm);
                assertEquals(norm, got, 1e-5 * norm, "seed " + seed + ": grad norm");
                double coef = maxNorm / (norm + 1e-6);
                for (var e : x.entrySet()) {
                    double[] p = e.getValue(), mm = mom.get(e.getKey()), vv = vel.get(e.getKey());
                    float[] gi = g.get(e.getKey());
                    for (int i = 0; i < p.length; i++) {
                        double gc = gi[i] * coef;
                        p[i] *= 1 - lr * wdecay;
                        mm[i] = b1 * mm[i] + (1 - b1) * gc;
                        vv[i] = b2 * vv[i] + (1 - b2) * gc * gc;
                        double mh = mm[i] / (1 - Math.pow(b1, step)), vh = vv[i] / (1 - Math.pow(b2, step));
                        p[i] -= lr * mh / (Math.sqrt(vh) + eps);
                    }
                }
                Map<String, float[]> after = m.parameters();
                double worst = 0;
                for (var e : x.entrySet()) {
                    double err = Numerics.relErr(after.get(e.getKey()), toFloat(e.getValue()));
                    worst = Math.max(worst, err);
                    assertTrue(err < 1e-5, "seed " + seed + ": step " + step + " " + e.getKey() + " rel err " + err);
                }
                System.out.printf("libtorch AdamW step %d vs the update rule: worst parameter rel err %.2e%n", step, worst);
            }
        }
    }

    // ---- inputs ----

    static Map<String, float[]> randomWeights(LlamaConfig cfg, Random rng) {
        Map<String, float[]> w = new LinkedHashMap<>();
        for (var e : TorchLlama.expectedShapes(cfg).entrySet()) {
            int n = (int) Tensor.numel(e.getValue());
            float[] v = Numerics.normal(rng, n, 0.2f);
            if (e.getValue().length == 1) for (int i = 0; i < n; i++) v[i] = 1f + v[i] / 2;   // norms: 1 + 0.1 N(0,1)
            w.put(e.getKey(), v);
        }
        return w;
    }

    static Map<String, Tensor> tensors(Arena arena, LlamaConfig cfg, Map<String, float[]> w) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (var e : TorchLlama.expectedShapes(cfg).entrySet()) out.put(e.getKey(), Tensor.of(arena, w.get(e.getKey()), e.getValue()));
        return out;
    }

    /** Row 0: two packed sequences; row 1: one full sequence; row 2: a short sequence then padding. */
    static TokenBatch mixedBatch(int vocab, Random rng) {
        int bsz = 3, t = 11, n = bsz * t;
        int[] tok = new int[n], tgt = new int[n], pos = new int[n], seg = new int[n];
        int[][] lengths = {{6, 5}, {11}, {7}};
        for (int r = 0; r < bsz; r++) {
            int j = 0;
            for (int s = 0; s < lengths[r].length; s++) {
                for (int k = 0; k < lengths[r][s]; k++, j++) {
                    tok[r * t + j] = rng.nextInt(vocab);
                    pos[r * t + j] = k;
                    seg[r * t + j] = s + 1;
                }
            }
            for (int k = 0; k < t; k++) {
                int i = r * t + k;
                boolean next = k + 1 < t && seg[i] != 0 && seg[i + 1] == seg[i];
                tgt[i] = next ? tok[i + 1] : TokenBatch.IGNORE;
            }
        }
        return new TokenBatch(bsz, t, tok, tgt, pos, seg);
    }

    static Map<String, double[]> toDouble(Map<String, float[]> w) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (var e : w.entrySet()) {
            double[] d = new double[e.getValue().length];
            for (int i = 0; i < d.length; i++) d[i] = e.getValue()[i];
            out.put(e.getKey(), d);
        }
        return out;
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    static float[] unbox(List<Float> l) {
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) f[i] = l.get(i);
        return f;
    }

    /** LlamaForCausalLM in float64, loop by loop; padded query rows attend to nothing and output 0. */
    static final class Reference {
        final LlamaConfig cfg;
        final Map<String, double[]> w;
        double[] lastLogits;
        double[] lastHidden;

        Reference(LlamaConfig cfg, Map<String, double[]> w) {
            this.cfg = cfg;
            this.w = w;
        }

        double loss(TokenBatch b) {
            int n = b.size(), c = cfg.hiddenSize(), d = cfg.headDim(), hq = cfg.numHeads(), hkv = cfg.numKvHeads();
            int kv = cfg.kvDim(), f = cfg.intermediateSize(), vocab = cfg.vocabSize(), t = b.seqLen();
            double[] embed = w.get("model.embed_tokens.weight");
            double[] x = new double[n * c];
            for (int i = 0; i < n; i++) System.arraycopy(embed, b.tokens()[i] * c, x, i * c, c);
            for (int l = 0; l < cfg.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                double[] h = rmsnorm(x, w.get(p + "input_layernorm.weight"), n, c);
                double[] q = linear(h, w.get(p + "self_attn.q_proj.weight"), n, c, c);
                double[] k = linear(h, w.get(p + "self_attn.k_proj.weight"), n, c, kv);
                double[] v = linear(h, w.get(p + "self_attn.v_proj.weight"), n, c, kv);
                rope(q, b.positions(), n, hq, d);
                rope(k, b.positions(), n, hkv, d);
                double[] a = new double[n * c];
                for (int r = 0; r < b.batch(); r++) {
                    for (int head = 0; head < hq; head++) {
                        int kh = head / (hq / hkv);
                        for (int i = 0; i < t; i++) {
                            int qi = r * t + i, si = b.segments()[qi];
                            if (si == 0) continue;
                            double[] s = new double[i + 1];
                            double max = Double.NEGATIVE_INFINITY;
                            for (int j = 0; j <= i; j++) {
                                int kj = r * t + j;
                                if (b.segments()[kj] != si) { s[j] = Double.NEGATIVE_INFINITY; continue; }
                                double dot = 0;
                                for (int e = 0; e < d; e++) dot += q[qi * c + head * d + e] * k[kj * kv + kh * d + e];
                                s[j] = dot / Math.sqrt(d);
                                max = Math.max(max, s[j]);
                            }
                            double z = 0;
                            for (int j = 0; j <= i; j++) z += s[j] = Math.exp(s[j] - max);
                            for (int j = 0; j <= i; j++) {
                                int kj = r * t + j;
                                for (int e = 0; e < d; e++) a[qi * c + head * d + e] += s[j] / z * v[kj * kv + kh * d + e];
                            }
                        }
                    }
                }
                add(x, linear(a, w.get(p + "self_attn.o_proj.weight"), n, c, c));
                h = rmsnorm(x, w.get(p + "post_attention_layernorm.weight"), n, c);
                double[] g = linear(h, w.get(p + "mlp.gate_proj.weight"), n, c, f);
                double[] u = linear(h, w.get(p + "mlp.up_proj.weight"), n, c, f);
                for (int i = 0; i < g.length; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                add(x, linear(g, w.get(p + "mlp.down_proj.weight"), n, f, c));
            }
            x = rmsnorm(x, w.get("model.norm.weight"), n, c);
            lastHidden = x;
            double[] head = cfg.tieWordEmbeddings() ? embed : w.get("lm_head.weight");
            lastLogits = linear(x, head, n, c, vocab);
            double sum = 0;
            int count = 0;
            for (int i = 0; i < n; i++) {
                int target = b.targets()[i];
                if (target == TokenBatch.IGNORE) continue;
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (int v = 0; v < vocab; v++) max = Math.max(max, lastLogits[i * vocab + v]);
                for (int v = 0; v < vocab; v++) z += Math.exp(lastLogits[i * vocab + v] - max);
                sum += Math.log(z) + max - lastLogits[i * vocab + target];
                count++;
            }
            return sum / count;
        }

        private double[] rmsnorm(double[] x, double[] weight, int n, int c) {
            double[] y = new double[n * c];
            for (int i = 0; i < n; i++) {
                double ss = 0;
                for (int j = 0; j < c; j++) ss += x[i * c + j] * x[i * c + j];
                double r = 1 / Math.sqrt(ss / c + cfg.rmsNormEps());
                for (int j = 0; j < c; j++) y[i * c + j] = weight[j] * x[i * c + j] * r;
            }
            return y;
        }

        /** y[n, out] = x[n, in] · W[out, in]ᵀ. */
        private static double[] linear(double[] x, double[] wt, int n, int in, int out) {
            double[] y = new double[n * out];
            for (int i = 0; i < n; i++) {
                for (int o = 0; o < out; o++) {
                    double s = 0;
                    for (int j = 0; j < in; j++) s += x[i * in + j] * wt[o * in + j];
                    y[i * out + o] = s;
                }
            }
            return y;
        }

        private void rope(double[] x, int[] positions, int n, int heads, int d) {
            int half = d / 2;
            for (int i = 0; i < n; i++) {
                for (int h = 0; h < heads; h++) {
                    int base = (i * heads + h) * d;
                    for (int e = 0; e < half; e++) {
                        double angle = positions[i] * Math.pow(cfg.ropeTheta(), -2.0 * e / d);
                        double x1 = x[base + e], x2 = x[base + e + half];
                        x[base + e] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
                        x[base + e + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
                    }
                }
            }
        }

        private static void add(double[] x, double[] y) {
            for (int i = 0; i < x.length; i++) x[i] += y[i];
        }
    }
}
