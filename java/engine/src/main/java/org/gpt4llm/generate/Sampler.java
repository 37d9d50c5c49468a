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
        boolean byK = topK > 0 && topK < n;
        // only the tokens that can survive need ranking: the k best (ties with the k-th kept), or the
        // most likely ones whose mass reaches p
        int[] ranked = rankFinite(logits, byK ? kthLargest(logits, topK) : nucleusFloor(logits, topP));
        int count = ranked.length;
        if (topP < 1f) {
            double max = logits[ranked[0]], sum = 0;
            if (byK) {
                for (int t : ranked) sum += Math.exp(logits[t] - max); // top-k renormalises over what it kept
            } else {
                for (float z : logits) if (z != Float.NEGATIVE_INFINITY) sum += Math.exp(z - max);
            }
            double before = 0;
            int keepP = 0;
            while (keepP < count && before < topP) before += Math.exp(logits[ranked[keepP++]] - max) / sum;
            count = Math.max(1, keepP);
        }
        return Arrays.copyOf(ranked, count);
    }

    /** The key of a finite logit: descending logit in the high 32 bits, the id in the low ones. */
    private static long rankKey(float z, int t) {
        int bits = Float.floatToIntBits(z == 0f ? 0f : z); // -0 ranks as 0
        int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // ints that order as the floats do
        return ((long) ~ordered << 32) | t;
    }

    /**
     * The k-th largest finite logit (1 <= k < number of finite logits), by a bounded max-heap of the k
     * smallest keys: O(V log k) instead of sorting the whole vocabulary.
     */
    private static float kthLargest(float[] logits, int k) {
        long[] heap = new long[k]; // max-heap of keys: its root is the k-th best token seen so far
        int size = 0;
        for (int t = 0; t < logits.length; t++) {
            if (logits[t] == Float.NEGATIVE_INFINITY) continue;
            long key = rankKey(logits[t], t);
            if (size < k) {
                int i = size++;
                while (i > 0 && heap[(i - 1) / 2] < key) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; }
                heap[i] = key;
            } else if (key < heap[0]) {
                int i = 0;
                while (true) { // sift the new key down from the root
                    int c = 2 * i + 1;
                    if (c >= k) break;
                    if (c + 1 < k && heap[c + 1] > heap[c]) c++;
                    if (heap[c] <= key) break;
                    heap[i] = heap[c];
                    i = c;
                }
                heap[i] = key;
            }
        }
        return logits[(int) heap[0]];
    }

    /**
     * A logit such that the tokens at or above it hold at least {@code topP} of the probability: the
     * nucleus lies among them, so only they need sorting. Tries the tokens above 1/V of the mass first,
     * then ever lower bars; -infinity (all tokens) if {@code topP} needs nearly everything.
     */
    private static float nucleusFloor(float[] logits, float topP) {
        float max = Float.NEGATIVE_INFINITY;
        int n = 0;
        for (float z : logits) if (z != Float.NEGATIVE_INFINITY) { max = Math.max(max, z); n++; }
        double[] e = new double[logits.length];
        double sum = 0;
        for (int t = 0; t < logits.length; t++) {
            if (logits[t] != Float.NEGATIVE_INFINITY) sum += e[t] = Math.exp(logits[t] - max);
        }
        for (double bar = sum / n; bar > sum * 1e-12; bar /= 64) {
            double mass = 0;
            float floor = Float.POSITIVE_INFINITY;
            for (int t = 0; t < logits.length; t++) {
                if (e[t] >= bar) {
                    mass += e[t];
                    floor = Math.min(floor, logits[t]);
                }
            }
            // a margin over rounding: the cut in rank order must end inside the ranked tokens
            if (mass >= topP * sum * (1 + 1e-9)) return floor; // tokens tied with the floor are ranked too
        }
        return Float.NEGATIVE_INFINITY;
    }

    /**
     * The tokens whose logit is finite and at least {@code floor}, largest logit first, ties in id
     * order: one primitive sort of {@link #rankKey}s.
     */
    private static int[] rankFinite(float[] logits, float floor) {
        long[] keys = new long[logits.length];
        int n = 0;
        for (int t = 0; t < logits.length; t++) {
            if (logits[t] == Float.NEGATIVE_INFINITY || logits[t] < floor) continue;
            keys[n++] = rankKey(logits[t], t);
        }
        Arrays.sort(keys, 0, n);
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
