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
     * every token with a finite logit).
     */
    static int[] keep(float[] logits, int topK, float topP) {
        Integer[] order = new Integer[logits.length];
        int n = 0;
        for (int t = 0; t < logits.length; t++) if (logits[t] != Float.NEGATIVE_INFINITY) order[n++] = t;
        if (n == 0) throw new IllegalArgumentException("every logit is -infinity: there is no token to sample");
        Integer[] ranked = Arrays.copyOf(order, n);
        Arrays.sort(ranked, (a, b) -> Float.compare(logits[b], logits[a])); // stable: ties keep id order
        int count = n;
        if (topK > 0 && topK < n) {
            float kth = logits[ranked[topK - 1]];
            count = topK;
            while (count < n && logits[ranked[count]] >= kth) count++; // ties with the k-th stay
        }
        if (topP < 1f) {
            int[] head = new int[count];
            for (int i = 0; i < count; i++) head[i] = ranked[i];
            double[] p = probabilities(logits, head);
            double before = 0;
            int keepP = 0;
            while (keepP < count && before < topP) before += p[keepP++];
            count = Math.max(1, keepP);
        }
        int[] kept = new int[count];
        for (int i = 0; i < count; i++) kept[i] = ranked[i];
        return kept;
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
