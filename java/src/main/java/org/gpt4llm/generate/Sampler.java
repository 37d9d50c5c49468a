package org.gpt4llm.generate;

import java.util.Arrays;
import java.util.BitSet;
import java.util.SplittableRandom;

/**
 * Picks one row's next token from its logits, in the order of HF's {@code generate}: the repetition
 * penalty (a logits processor, also under greedy decoding), then temperature, top-k and top-p (the
 * warpers), then a draw from the softmax of what is left.
 *
 * <pre>
 * penalty:     z[t] = z[t] / r  if z[t] > 0,  z[t] * r  otherwise       for every t already in the sequence
 * greedy:      argmax z                                                  (temperature 0)
 * temperature: z / T
 * top-k:       keep z[t] >= the k-th largest (ties kept, as HF's TopKLogitsWarper)
 * top-p:       sort by probability, keep the smallest prefix whose mass reaches p (at least one token),
 *              i.e. keep t when the mass of the tokens ranked before it is < p (HF's TopPLogitsWarper)
 * </pre>
 * Each row draws from its own generator seeded with {@link SamplingParams#seed}, so a row's tokens do
 * not depend on the batch it runs in.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
    }

    /**
     * The next token given {@code logits} (overwritten: penalised and scaled) and the tokens the
     * sequence already holds, prompt included ({@code seen}).
     */
    public int next(float[] logits, BitSet seen) {
        applyRepetitionPenalty(logits, seen, params.repetitionPenalty());
        if (params.temperature() == 0f) return argmax(logits);
        for (int t = 0; t < logits.length; t++) logits[t] /= params.temperature();
        int[] kept = keep(logits, params.topK(), params.topP());
        return kept[draw(probabilities(logits, kept), random.nextDouble())];
    }

    /** CTRL's penalty as HF's RepetitionPenaltyLogitsProcessor, once per distinct token in {@code seen}. */
    static void applyRepetitionPenalty(float[] logits, BitSet seen, float penalty) {
        if (penalty == 1f) return;
        for (int t = seen.nextSetBit(0); t >= 0 && t < logits.length; t = seen.nextSetBit(t + 1)) {
            logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
        }
    }

    /** The first index of the largest logit. */
    static int argmax(float[] logits) {
        int best = 0;
        for (int t = 1; t < logits.length; t++) if (logits[t] > logits[best]) best = t;
        return best;
    }

    /**
     * The tokens top-k and then top-p keep, most likely first ({@code topK} 0 and {@code topP} 1 keep
     * every token with a finite logit, in id order).
     */
    static int[] keep(float[] logits, int topK, float topP) {
        int n = 0;
        for (float z : logits) if (z != Float.NEGATIVE_INFINITY) n++;
        if (n == 0) throw new IllegalArgumentException("every logit is -infinity: there is no token to sample");
        if ((topK == 0 || topK >= n) && topP >= 1f) { // nothing to filter: no need to rank
            int[] all = new int[n];
            for (int t = 0, k = 0; t < logits.length; t++) if (logits[t] != Float.NEGATIVE_INFINITY) all[k++] = t;
            return all;
        }
        int[] ranked = rankFinite(logits, n);
        int count = n;
        if (topK > 0 && topK < n) {
            float kth = logits[ranked[topK - 1]];
            count = topK;
            while (count < n && logits[ranked[count]] >= kth) count++; // ties with the k-th stay
        }
        if (topP < 1f) {
            double[] p = probabilities(logits, Arrays.copyOf(ranked, count));
            double before = 0;
            int keepP = 0;
            while (keepP < count && before < topP) before += p[keepP++];
            count = Math.max(1, keepP);
        }
        return Arrays.copyOf(ranked, count);
    }

    /**
     * The {@code n} tokens with a finite logit, largest logit first, ties in id order: one primitive sort
     * of keys (descending logit in the high 32 bits, the id in the low ones), fast at a 32k vocabulary.
     */
    private static int[] rankFinite(float[] logits, int n) {
        long[] keys = new long[n];
        int k = 0;
        for (int t = 0; t < logits.length; t++) {
            if (logits[t] == Float.NEGATIVE_INFINITY) continue;
            int bits = Float.floatToIntBits(logits[t] == 0f ? 0f : logits[t]); // -0 ranks as 0
            int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // ints that order as the floats do
            keys[k++] = ((long) ~ordered << 32) | t;
        }
        Arrays.sort(keys);
        int[] ranked = new int[n];
        for (int i = 0; i < n; i++) ranked[i] = (int) keys[i];
        return ranked;
    }

    /** Softmax over the {@code kept} tokens only, in double. */
    static double[] probabilities(float[] logits, int[] kept) {
        double max = Double.NEGATIVE_INFINITY;
        for (int t : kept) max = Math.max(max, logits[t]);
        double[] p = new double[kept.length];
        double sum = 0;
        for (int i = 0; i < kept.length; i++) sum += p[i] = Math.exp(logits[kept[i]] - max);
        for (int i = 0; i < kept.length; i++) p[i] /= sum;
        return p;
    }

    /** The index where the running sum of {@code p} first passes {@code u} in [0, 1). */
    static int draw(double[] p, double u) {
        double acc = 0;
        for (int i = 0; i < p.length; i++) {
            acc += p[i];
            if (u < acc) return i;
        }
        return p.length - 1; // rounding left u above the total
    }
}
