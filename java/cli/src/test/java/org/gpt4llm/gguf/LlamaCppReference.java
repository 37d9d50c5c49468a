package org.gpt4llm.gguf;

import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.Map;
import org.gpt4llm.model.LlamaConfig;

/**
 * A LLaMA forward in float64 on a GGUF's own tensors, in llama.cpp's convention: Q and K rows as the
 * file stores them, rotary embeddings on adjacent pairs (2i, 2i+1) with angle pos·base^(-2i/headDim).
 * It never uses the importer's row reordering, so agreeing with the imported HF model checks it.
 */
final class LlamaCppReference {
    private final GgufFile g;
    private final LlamaConfig c;
    private final Map<String, float[]> weights = new HashMap<>();

    LlamaCppReference(GgufFile g, LlamaConfig c) {
        this.g = g;
        this.c = c;
    }

    /** Logits [T, V] (row-major) of one sequence, positions 0..T-1. */
    double[] logits(int[] tokens) {
        int t = tokens.length, d = c.hiddenSize(), hd = c.headDim(), kvDim = c.kvDim();
        double[][] x = new double[t][];
        for (int i = 0; i < t; i++) x[i] = row(weight("token_embd.weight"), tokens[i], d);
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "blk." + l + ".";
            double[][] q = new double[t][], k = new double[t][], v = new double[t][];
            for (int i = 0; i < t; i++) {
                double[] h = rmsNorm(x[i], weight(p + "attn_norm.weight"));
                q[i] = rope(matVec(weight(p + "attn_q.weight"), h, c.hiddenSize()), i);
                k[i] = rope(matVec(weight(p + "attn_k.weight"), h, kvDim), i);
                v[i] = matVec(weight(p + "attn_v.weight"), h, kvDim);
            }
            for (int i = 0; i < t; i++) {
                double[] att = new double[d];
                for (int head = 0; head < c.numHeads(); head++) {
                    int kvHead = head / (c.numHeads() / c.numKvHeads());
                    double[] s = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < hd; e++) s[j] += q[i][head * hd + e] * k[j][kvHead * hd + e];
                        s[j] /= Math.sqrt(hd);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j <= i; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < hd; e++) att[head * hd + e] += s[j] / sum * v[j][kvHead * hd + e];
                    }
                }
                add(x[i], matVec(weight(p + "attn_output.weight"), att, d));
                double[] h = rmsNorm(x[i], weight(p + "ffn_norm.weight"));
                double[] gate = matVec(weight(p + "ffn_gate.weight"), h, c.intermediateSize());
                double[] up = matVec(weight(p + "ffn_up.weight"), h, c.intermediateSize());
                for (int e = 0; e < gate.length; e++) gate[e] = gate[e] / (1 + Math.exp(-gate[e])) * up[e];
                add(x[i], matVec(weight(p + "ffn_down.weight"), gate, d));
            }
        }
        int vocab = c.vocabSize();
        double[] out = new double[t * vocab];
        for (int i = 0; i < t; i++) {
            double[] logits = matVec(weight("output.weight"), rmsNorm(x[i], weight("output_norm.weight")), vocab);
            System.arraycopy(logits, 0, out, i * vocab, vocab);
        }
        return out;
    }

    private float[] weight(String name) {
        return weights.computeIfAbsent(name, n -> {
            try (Arena arena = Arena.ofConfined()) {
                return g.toF32(n, arena).toFloatArray();
            }
        });
    }

    /** Adjacent pairs of each head rotated by pos·base^(-2i/headDim). */
    private double[] rope(double[] v, int pos) {
        int hd = c.headDim();
        for (int base = 0; base < v.length; base += hd) {
            for (int i = 0; i < hd / 2; i++) {
                double angle = pos * Math.pow(c.ropeTheta(), -2.0 * i / hd);
                double a = v[base + 2 * i], b = v[base + 2 * i + 1];
                v[base + 2 * i] = a * Math.cos(angle) - b * Math.sin(angle);
                v[base + 2 * i + 1] = a * Math.sin(angle) + b * Math.cos(angle);
            }
        }
        return v;
    }

    private double[] rmsNorm(double[] x, float[] w) {
        double ss = 0;
        for (double e : x) ss += e * e;
        double r = 1 / Math.sqrt(ss / x.length + c.rmsNormEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * r * w[i];
        return out;
    }

    /** W x for W stored [rows, x.length] row-major. */
    private static double[] matVec(float[] w, double[] x, int rows) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int i = 0; i < x.length; i++) s += w[r * x.length + i] * x[i];
            out[r] = s;
        }
        return out;
    }

    private static double[] row(float[] w, int r, int cols) {
        double[] out = new double[cols];
        for (int i = 0; i < cols; i++) out[i] = w[r * cols + i];
        return out;
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) x[i] += y[i];
    }
}
