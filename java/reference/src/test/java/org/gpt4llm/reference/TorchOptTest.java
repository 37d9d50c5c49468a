package org.gpt4llm.reference;

import static org.gpt4llm.reference.TorchLlamaTest.mixedBatch;
import static org.gpt4llm.reference.TorchLlamaTest.termMagnitudes;
import static org.gpt4llm.reference.TorchLlamaTest.toDouble;
import static org.gpt4llm.reference.TorchLlamaTest.toFloat;
import static org.gpt4llm.reference.TorchLlamaTest.unbox;
import static org.gpt4llm.testing.DecoderInputs.lastTokens;
import static org.gpt4llm.testing.DecoderInputs.optWeights;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * Guards the OPT oracle itself: {@link TorchOpt} against a plain float64 Java OPT written from HF's
 * {@code modeling_opt.py} (logits, loss, final hidden states), and its autograd gradients, of the LM
 * loss and of a scalar built on {@link TorchOpt#hidden()}, against central finite differences of that
 * reference on every parameter tensor.
 */
class TorchOptTest {
    /** Two layers, untied head; the batch packs two sequences in one row and right-pads another. */
    private static final OptConfig UNTIED = OptConfig.builder().hiddenSize(16).intermediateSize(24).numLayers(2)
            .numHeads(2).vocabSize(37).tieWordEmbeddings(false).maxPositionEmbeddings(20).build();
    /** One layer, three heads, the head tied to the embeddings. */
    private static final OptConfig TIED = OptConfig.builder().hiddenSize(12).intermediateSize(20).numLayers(1)
            .numHeads(3).vocabSize(29).tieWordEmbeddings(true).maxPositionEmbeddings(16).build();

    @Test
    void forwardMatchesFloat64Reference() {
        for (OptConfig cfg : List.of(UNTIED, TIED)) {
            long seed = TestSeeds.next();
            Random rng = new Random(seed);
            Map<String, float[]> w = optWeights(cfg, rng);
            TokenBatch b = mixedBatch(cfg.vocabSize(), rng);
            try (Arena arena = Arena.ofConfined(); PointerScope scope = new PointerScope();
                 TorchOpt m = new TorchOpt(cfg, tensors(arena, cfg, w), 2)) {
                float loss = m.forward(b);
                float[] logits = m.logits(), hidden = Torch.toFloats(m.hidden());
                Reference ref = new Reference(cfg, toDouble(w));
                double refLoss = ref.loss(b);
                double errLogits = Numerics.relErr(realRows(logits, b, cfg.vocabSize()), realRows(ref.lastLogits, b, cfg.vocabSize()));
                double errHidden = Numerics.relErr(realRows(hidden, b, cfg.hiddenSize()), realRows(ref.lastHidden, b, cfg.hiddenSize()));
                System.out.printf("TorchOpt vs float64 reference (tied=%b): logits rel err %.2e, hidden rel err %.2e, loss %.7f vs %.7f%n",
                        cfg.tieWordEmbeddings(), errLogits, errHidden, loss, refLoss);
                assertTrue(errLogits < 1e-5, "seed " + seed + ": logits rel err " + errLogits);
                assertTrue(errHidden < 1e-5, "seed " + seed + ": hidden rel err " + errHidden);
                assertEquals(refLoss, loss, 1e-5 * Math.abs(refLoss), "seed " + seed + ": loss");
            }
        }
    }

    @Test
    void lossGradientsMatchFiniteDifferences() {
        for (OptConfig cfg : List.of(UNTIED, TIED)) {
            long seed = TestSeeds.next();
            Random rng = new Random(seed);
            Draw draw = awayFromKinks(cfg, rng);
            Map<String, float[]> w = draw.weights();
            TokenBatch b = draw.batch();
            try (Arena arena = Arena.ofConfined(); TorchOpt m = new TorchOpt(cfg, tensors(arena, cfg, w), 2)) {
                m.forward(b);
                m.backward();
                Map<String, float[]> grads = m.grads();
                checkAgainstFiniteDifferences(cfg, b, toDouble(w), grads, ref -> ref.loss(b), rng,
                        "seed " + seed + ", tied=" + cfg.tieWordEmbeddings() + ", LM loss");
                // positions never used read no gradient: the table is indexed at position + 2
                float[] pos = grads.get("model.decoder.embed_positions.weight");
                boolean[] used = usedPositionRows(cfg, b);
                for (int row = 0; row < used.length; row++) {
                    if (used[row]) continue;
                    for (int j = 0; j < cfg.hiddenSize(); j++) {
                        assertEquals(0f, pos[row * cfg.hiddenSize() + j], "seed " + seed + ": gradient of unused position row " + row);
                    }
                }
            }
        }
    }

    /** s = Σ over the last token of each sequence of hidden·v, back-propagated through {@link TorchOpt#backward(org.bytedeco.pytorch.Tensor)}. */
    @Test
    void hiddenStatesCarryGradientsOfAnyScalar() {
        for (OptConfig cfg : List.of(UNTIED, TIED)) {
            long seed = TestSeeds.next();
            Random rng = new Random(seed);
            Draw draw = awayFromKinks(cfg, rng);
            Map<String, float[]> w = draw.weights();
            TokenBatch b = draw.batch();
            int c = cfg.hiddenSize();
            int[] last = lastTokens(b);
            float[] v = Numerics.normal(rng, c, 1f);
            try (Arena arena = Arena.ofConfined(); TorchOpt m = new TorchOpt(cfg, tensors(arena, cfg, w), 2)) {
                m.forward(b);
                float s;
                try (PointerScope scope = new PointerScope()) {
                    org.bytedeco.pytorch.Tensor rewards = m.hidden().reshape(b.size(), c)
                            .index_select(0, Torch.longs(last, last.length)).matmul(Torch.floats(v, c));
                    org.bytedeco.pytorch.Tensor sum = rewards.sum();
                    s = sum.item_float();
                    m.backward(sum);
                }
                ToDoubleFunction<Reference> scalar = ref -> {
                    ref.loss(b);
                    double total = 0;
                    for (int row : last) for (int j = 0; j < c; j++) total += ref.lastHidden[row * c + j] * v[j];
                    return total;
                };
                Map<String, double[]> wd = toDouble(w);
                Reference exact = new Reference(cfg, wd);
                double want = scalar.applyAsDouble(exact);
                assertEquals(want, s, 1e-5 * termMagnitudes(exact.lastHidden, last, v), "seed " + seed + ": scalar on the hidden states");
                checkAgainstFiniteDifferences(cfg, b, wd, m.grads(), scalar, rng,
                        "seed " + seed + ", tied=" + cfg.tieWordEmbeddings() + ", scalar on hidden()");
            }
        }
    }

    @Test
    void refusesPositionsBeyondTheTable() {
        OptConfig cfg = TIED;
        Random rng = new Random(TestSeeds.next());
        Map<String, float[]> w = optWeights(cfg, rng);
        int t = cfg.maxPositionEmbeddings() + 1;
        int[] row = new int[t];
        for (int i = 0; i < t; i++) row[i] = rng.nextInt(cfg.vocabSize());
        TokenBatch tooLong = TokenBatch.causalLm(new int[][] {row}, cfg.padTokenId());
        try (Arena arena = Arena.ofConfined(); TorchOpt m = new TorchOpt(cfg, tensors(arena, cfg, w), 2)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(tooLong));
            assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
        }
        w.remove("model.decoder.layers.0.fc2.bias");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> missing = new LinkedHashMap<>();
            TorchOpt.expectedShapes(cfg).forEach((name, shape) -> {
                if (w.containsKey(name)) missing.put(name, Tensor.of(arena, w.get(name), shape));
            });
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new TorchOpt(cfg, missing, 2));
            assertTrue(e.getMessage().contains("model.decoder.layers.0.fc2.bias"), e.getMessage());
        }
    }

    // ---- checks ----

    private record Draw(Map<String, float[]> weights, TokenBatch batch) {}

    /**
     * Weights and a batch from {@code rng}, drawn again while a real token's fc1 output lies within
     * 1e-5 of their RMS of the ReLU's kink: fp32 rounding could put it on the other side than the
     * float64 reference does, and every gradient below it would then take the other branch's value.
     */
    private static Draw awayFromKinks(OptConfig cfg, Random rng) {
        for (int tries = 0; tries < 100; tries++) {
            Map<String, float[]> w = optWeights(cfg, rng);
            TokenBatch b = mixedBatch(cfg.vocabSize(), rng);
            Reference ref = new Reference(cfg, toDouble(w));
            ref.loss(b);
            if (ref.kinkMargin >= 1e-5) return new Draw(w, b);
        }
        throw new AssertionError("100 draws each put an fc1 output at a ReLU kink");
    }

    /**
     * For every parameter tensor, the autograd gradient at a few random coordinates against central
     * differences of {@code objective} on the float64 reference. Token and position embeddings are
     * probed on rows the batch reads. A probe whose step flips a ReLU input is redrawn (the difference
     * quotient across a kink is not the derivative).
     */
    private static void checkAgainstFiniteDifferences(OptConfig cfg, TokenBatch b, Map<String, double[]> w,
            Map<String, float[]> grads, ToDoubleFunction<Reference> objective, Random rng, String what) {
        Reference ref = new Reference(cfg, w);
        objective.applyAsDouble(ref);
        boolean[] kinks = ref.reluPositive.clone();
        List<Integer> tokenRows = new ArrayList<>();
        for (int i = 0; i < b.size(); i++) if (b.segments()[i] != 0) tokenRows.add(b.tokens()[i]);
        boolean[] posUsed = usedPositionRows(cfg, b);
        List<Integer> positionRows = new ArrayList<>();
        for (int r = 0; r < posUsed.length; r++) if (posUsed[r]) positionRows.add(r);
        double h = 1e-6;
        Map<String, float[]> autograd = new LinkedHashMap<>(), numeric = new LinkedHashMap<>();
        List<Float> allAg = new ArrayList<>(), allFd = new ArrayList<>();
        for (Map.Entry<String, double[]> e : w.entrySet()) {
            String name = e.getKey();
            double[] p = e.getValue();
            int c = cfg.hiddenSize(), probes = 5;
            float[] ag = new float[probes], fd = new float[probes];
            for (int s = 0, tries = 0; s < probes; tries++) {
                if (tries > 100) throw new AssertionError(what + ": " + name + ": every probe crosses a ReLU kink");
                int i;
                if (name.endsWith("embed_tokens.weight")) i = tokenRows.get(rng.nextInt(tokenRows.size())) * c + rng.nextInt(c);
                else if (name.endsWith("embed_positions.weight")) i = positionRows.get(rng.nextInt(positionRows.size())) * c + rng.nextInt(c);
                else i = rng.nextInt(p.length);
                double orig = p[i];
                p[i] = orig + h;
                double fp = objective.applyAsDouble(ref);
                boolean smooth = Arrays.equals(kinks, ref.reluPositive);
                p[i] = orig - h;
                double fm = objective.applyAsDouble(ref);
                smooth &= Arrays.equals(kinks, ref.reluPositive);
                p[i] = orig;
                if (!smooth) continue;
                fd[s] = (float) ((fp - fm) / (2 * h));
                ag[s] = grads.get(name)[i];
                s++;
            }
            autograd.put(name, ag);
            numeric.put(name, fd);
            for (int s = 0; s < probes; s++) {
                allAg.add(ag[s]);
                allFd.add(fd[s]);
            }
        }
        double overall = Numerics.relErr(unbox(allAg), unbox(allFd));
        double scale = 0;
        for (float f : allFd) scale += (double) f * f;
        scale = Math.sqrt(scale / allFd.size());
        // Per tensor: relative to its own gradient, or to the model's typical gradient where its own is
        // (near) zero, as k_proj.bias's is (softmax ignores a shift shared by all keys).
        double worst = 0;
        String worstName = "";
        for (String name : w.keySet()) {
            float[] ag = autograd.get(name), fd = numeric.get(name);
            double diff = 0, norm = 0;
            for (int s = 0; s < ag.length; s++) {
                diff += ((double) ag[s] - fd[s]) * ((double) ag[s] - fd[s]);
                norm += (double) fd[s] * fd[s];
            }
            double err = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-2 * scale * Math.sqrt(ag.length));
            if (err > worst) {
                worst = err;
                worstName = name;
            }
            assertTrue(err < 1e-3, what + ": " + name + " autograd " + Arrays.toString(ag) + " vs finite differences " + Arrays.toString(fd));
        }
        System.out.printf("TorchOpt autograd vs finite differences (%s): rel err %.2e overall, worst tensor %.2e (%s)%n",
                what, overall, worst, worstName);
        assertTrue(overall < 1e-4, what + ": overall rel err " + overall);
    }

    // ---- inputs ----

    static Map<String, Tensor> tensors(Arena arena, OptConfig cfg, Map<String, float[]> w) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        TorchOpt.expectedShapes(cfg).forEach((name, shape) -> out.put(name, Tensor.of(arena, w.get(name), shape)));
        return out;
    }

    /** The rows of the position table that the batch's real tokens read. */
    private static boolean[] usedPositionRows(OptConfig cfg, TokenBatch b) {
        boolean[] used = new boolean[cfg.maxPositionEmbeddings() + OptConfig.POSITION_OFFSET];
        for (int i = 0; i < b.size(); i++) if (b.segments()[i] != 0) used[b.positions()[i] + 2] = true;
        return used;
    }

    /** The rows of a [B*T, width] array that hold real tokens, flattened. */
    private static float[] realRows(float[] x, TokenBatch b, int width) {
        List<Float> out = new ArrayList<>();
        for (int n = 0; n < b.size(); n++) if (b.segments()[n] != 0) for (int j = 0; j < width; j++) out.add(x[n * width + j]);
        return unbox(out);
    }

    private static float[] realRows(double[] x, TokenBatch b, int width) {
        return realRows(toFloat(x), b, width);
    }

    /**
     * OPTForCausalLM in float64, loop by loop, from modeling_opt.py: learned positions at
     * position + 2, pre-LayerNorm blocks with biases, ReLU MLP, final LayerNorm. Padded query rows
     * attend to nothing and output 0.
     */
    static final class Reference {
        final OptConfig cfg;
        final Map<String, double[]> w;
        double[] lastLogits;
        double[] lastHidden;
        /** Sign of every fc1 output of the last pass, to spot a finite-difference step across a ReLU kink. */
        boolean[] reluPositive;
        /** The real tokens' fc1 output nearest the ReLU's kink, |u| over their RMS, in the last pass. */
        double kinkMargin;

        Reference(OptConfig cfg, Map<String, double[]> w) {
            this.cfg = cfg;
            this.w = w;
        }

        double loss(TokenBatch b) {
            int n = b.size(), c = cfg.hiddenSize(), heads = cfg.numHeads(), d = c / heads;
            int f = cfg.intermediateSize(), vocab = cfg.vocabSize(), t = b.seqLen();
            String dec = "model.decoder.";
            double[] embed = w.get(dec + "embed_tokens.weight"), pos = w.get(dec + "embed_positions.weight");
            double[] x = new double[n * c];
            for (int i = 0; i < n; i++) {
                int tok = b.tokens()[i], row = b.positions()[i] + 2;
                for (int j = 0; j < c; j++) x[i * c + j] = embed[tok * c + j] + pos[row * c + j];
            }
            reluPositive = new boolean[cfg.numLayers() * n * f];
            double nearest = Double.POSITIVE_INFINITY, squares = 0;
            long real = 0;
            for (int l = 0; l < cfg.numLayers(); l++) {
                String p = dec + "layers." + l + ".";
                double[] h = layerNorm(x, p + "self_attn_layer_norm", n, c);
                double[] q = linear(h, p + "self_attn.q_proj", n, c, c);
                double[] k = linear(h, p + "self_attn.k_proj", n, c, c);
                double[] v = linear(h, p + "self_attn.v_proj", n, c, c);
                for (int i = 0; i < q.length; i++) q[i] *= 1 / Math.sqrt(d);   // HF: q_proj(h) * scaling
                double[] a = new double[n * c];
                for (int r = 0; r < b.batch(); r++) {
                    for (int head = 0; head < heads; head++) {
                        for (int i = 0; i < t; i++) {
                            int qi = r * t + i, si = b.segments()[qi];
                            if (si == 0) continue;
                            double[] s = new double[i + 1];
                            double max = Double.NEGATIVE_INFINITY;
                            for (int j = 0; j <= i; j++) {
                                int kj = r * t + j;
                                if (b.segments()[kj] != si) { s[j] = Double.NEGATIVE_INFINITY; continue; }
                                double dot = 0;
                                for (int e = 0; e < d; e++) dot += q[qi * c + head * d + e] * k[kj * c + head * d + e];
                                s[j] = dot;
                                max = Math.max(max, dot);
                            }
                            double z = 0;
                            for (int j = 0; j <= i; j++) z += s[j] = Math.exp(s[j] - max);
                            for (int j = 0; j <= i; j++) {
                                int kj = r * t + j;
                                for (int e = 0; e < d; e++) a[qi * c + head * d + e] += s[j] / z * v[kj * c + head * d + e];
                            }
                        }
                    }
                }
                add(x, linear(a, p + "self_attn.out_proj", n, c, c));
                h = layerNorm(x, p + "final_layer_norm", n, c);
                double[] u = linear(h, p + "fc1", n, c, f);
                for (int i = 0; i < u.length; i++) {
                    reluPositive[l * n * f + i] = u[i] > 0;
                    if (b.segments()[i / f] != 0) {
                        nearest = Math.min(nearest, Math.abs(u[i]));
                        squares += u[i] * u[i];
                        real++;
                    }
                    u[i] = Math.max(u[i], 0);
                }
                add(x, linear(u, p + "fc2", n, f, c));
            }
            kinkMargin = nearest / Math.sqrt(squares / Math.max(real, 1));
            lastHidden = layerNorm(x, dec + "final_layer_norm", n, c);
            double[] head = cfg.tieWordEmbeddings() ? embed : w.get("lm_head.weight");
            lastLogits = new double[n * vocab];
            for (int i = 0; i < n; i++) {
                for (int o = 0; o < vocab; o++) {
                    double s = 0;
                    for (int j = 0; j < c; j++) s += lastHidden[i * c + j] * head[o * c + j];
                    lastLogits[i * vocab + o] = s;
                }
            }
            double sum = 0;
            int count = 0;
            for (int i = 0; i < n; i++) {
                int target = b.targets()[i];
                if (target == TokenBatch.IGNORE) continue;
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (int o = 0; o < vocab; o++) max = Math.max(max, lastLogits[i * vocab + o]);
                for (int o = 0; o < vocab; o++) z += Math.exp(lastLogits[i * vocab + o] - max);
                sum += Math.log(z) + max - lastLogits[i * vocab + target];
                count++;
            }
            return sum / count;
        }

        /** nn.LayerNorm(c, eps=1e-5): (x - mean) / sqrt(biased var + eps) * weight + bias, per row. */
        private double[] layerNorm(double[] x, String module, int n, int c) {
            double[] weight = w.get(module + ".weight"), bias = w.get(module + ".bias");
            double[] y = new double[n * c];
            for (int i = 0; i < n; i++) {
                double mean = 0, var = 0;
                for (int j = 0; j < c; j++) mean += x[i * c + j];
                mean /= c;
                for (int j = 0; j < c; j++) var += (x[i * c + j] - mean) * (x[i * c + j] - mean);
                double r = 1 / Math.sqrt(var / c + 1e-5);
                for (int j = 0; j < c; j++) y[i * c + j] = (x[i * c + j] - mean) * r * weight[j] + bias[j];
            }
            return y;
        }

        /** y[n, out] = x[n, in] · W[out, in]ᵀ + b[out]. */
        private double[] linear(double[] x, String module, int n, int in, int out) {
            double[] wt = w.get(module + ".weight"), bias = w.get(module + ".bias");
            double[] y = new double[n * out];
            for (int i = 0; i < n; i++) {
                for (int o = 0; o < out; o++) {
                    double s = bias[o];
                    for (int j = 0; j < in; j++) s += x[i * in + j] * wt[o * in + j];
                    y[i * out + o] = s;
                }
            }
            return y;
        }

        private static void add(double[] x, double[] y) {
            for (int i = 0; i < x.length; i++) x[i] += y[i];
        }
    }
}
