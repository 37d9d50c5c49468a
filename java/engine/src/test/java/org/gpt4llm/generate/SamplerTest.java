package org.gpt4llm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static int[] sorted(int[] a) {
        int[] c = a.clone();
        Arrays.sort(c);
        return c;
    }

    private static float[] logOf(double... p) {
        float[] z = new float[p.length];
        for (int i = 0; i < p.length; i++) z[i] = (float) Math.log(p[i]);
        return z;
    }

    @Test
    void topKKeepsTheKLargestAndTheirTies() {
        float[] z = {1f, 3f, 3f, 2f, 0.5f, 2f};
        assertArrayEquals(new int[] {1, 2}, sorted(Sampler.keep(z, 2, 1f)));
        assertArrayEquals(new int[] {1, 2, 3, 5}, sorted(Sampler.keep(z, 3, 1f)), "the tie at the 3rd place stays");
        assertArrayEquals(new int[] {1}, sorted(Sampler.keep(new float[] {0f, 5f, 1f}, 1, 1f)));
        assertEquals(6, Sampler.keep(z, 0, 1f).length, "k = 0 keeps all");
        assertEquals(6, Sampler.keep(z, 50, 1f).length, "k above the vocabulary keeps all");
        // random logits: exactly the tokens at or above the k-th largest value
        SplittableRandom r = new SplittableRandom(11);
        for (int trial = 0; trial < 50; trial++) {
            float[] x = new float[40];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            int k = 1 + r.nextInt(39);
            float[] s = x.clone();
            Arrays.sort(s);
            float kth = s[s.length - k];
            int[] expect = IntStream.range(0, x.length).filter(i -> x[i] >= kth).toArray();
            assertArrayEquals(expect, sorted(Sampler.keep(x, k, 1f)));
        }
    }

    @Test
    void topKRanksLikeAFullSortAtAVocabularySizeWithTiesAndMaskedTokens() {
        SplittableRandom r = new SplittableRandom(23);
        for (int trial = 0; trial < 20; trial++) {
            float[] x = new float[32000];
            // coarse values make many ties; some tokens masked out
            for (int i = 0; i < x.length; i++) {
                x[i] = r.nextInt(10) == 0 ? Float.NEGATIVE_INFINITY : Math.round(r.nextGaussian() * 8) / 4f;
            }
            int k = 1 + r.nextInt(200);
            Integer[] all = IntStream.range(0, x.length).filter(i -> x[i] != Float.NEGATIVE_INFINITY).boxed()
                    .toArray(Integer[]::new);
            Arrays.sort(all, (a, b) -> x[a] != x[b] ? Float.compare(x[b], x[a]) : Integer.compare(a, b));
            float kth = x[all[k - 1]];
            int[] expect = Arrays.stream(all).mapToInt(Integer::intValue).filter(i -> x[i] >= kth).toArray();
            assertArrayEquals(expect, Sampler.keep(x, k, 1f), "most likely first, ties in id order, trial " + trial);
        }
    }

    @Test
    void topPAloneKeepsTheSameNucleusAsAFullSort() {
        SplittableRandom r = new SplittableRandom(29);
        for (int trial = 0; trial < 30; trial++) {
            float[] x = new float[32000];
            double spread = trial % 3 == 0 ? 0.05 : trial % 3 == 1 ? 2 : 6; // near-flat to peaked
            for (int i = 0; i < x.length; i++) {
                x[i] = r.nextInt(20) == 0 ? Float.NEGATIVE_INFINITY : (float) (r.nextGaussian() * spread);
            }
            float p = (float) (0.05 + 0.9 * r.nextDouble());
            Integer[] all = IntStream.range(0, x.length).filter(i -> x[i] != Float.NEGATIVE_INFINITY).boxed()
                    .toArray(Integer[]::new);
            Arrays.sort(all, (a, b) -> x[a] != x[b] ? Float.compare(x[b], x[a]) : Integer.compare(a, b));
            double max = x[all[0]], sum = 0;
            for (int t : all) sum += Math.exp(x[t] - max);
            double before = 0;
            int keep = 0;
            while (keep < all.length && before < p) before += Math.exp(x[all[keep++]] - max) / sum;
            int[] expect = Arrays.stream(all).limit(Math.max(1, keep)).mapToInt(Integer::intValue).toArray();
            assertArrayEquals(expect, Sampler.keep(x, 0, p), "trial " + trial + ", p " + p);
        }
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        float[] z = logOf(0.15, 0.5, 0.05, 0.3);
        assertArrayEquals(new int[] {1}, sorted(Sampler.keep(z, 0, 0.45f)));
        assertArrayEquals(new int[] {1, 3}, sorted(Sampler.keep(z, 0, 0.7f)));
        assertArrayEquals(new int[] {0, 1, 3}, sorted(Sampler.keep(z, 0, 0.81f)));
        assertArrayEquals(new int[] {0, 1, 2, 3}, sorted(Sampler.keep(z, 0, 0.96f)));
        assertArrayEquals(new int[] {1}, sorted(Sampler.keep(z, 0, 0.01f)), "always at least one token");
        assertArrayEquals(new int[] {1, 3}, sorted(Sampler.keep(z, 2, 0.96f)), "top-k first, then top-p on what is left");
        // random logits against HF's TopPLogitsWarper in float64: sort ascending, drop where cumsum <= 1 - p, keep the last
        SplittableRandom r = new SplittableRandom(12);
        for (int trial = 0; trial < 200; trial++) {
            float[] x = new float[30];
            for (int i = 0; i < x.length; i++) x[i] = (float) (2 * r.nextGaussian());
            float p = (float) (0.05 + 0.9 * r.nextDouble());
            Integer[] asc = IntStream.range(0, x.length).boxed().toArray(Integer[]::new);
            Arrays.sort(asc, (a, b) -> Float.compare(x[a], x[b]));
            double max = x[asc[x.length - 1]], sum = 0;
            for (float v : x) sum += Math.exp(v - max);
            double cum = 0;
            BitSet keep = new BitSet();
            for (int i = 0; i < asc.length; i++) {
                cum += Math.exp(x[asc[i]] - max) / sum;
                if (cum > 1 - p || i == asc.length - 1) keep.set(asc[i]);
            }
            assertArrayEquals(keep.stream().toArray(), sorted(Sampler.keep(x, 0, p)), "p " + p + " trial " + trial);
        }
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        SplittableRandom r = new SplittableRandom(13);
        float[] z = new float[50];
        for (int i = 0; i < z.length; i++) z[i] = (float) (3 * r.nextGaussian());
        z[7] = 0f;
        BitSet seen = new BitSet();
        for (int t : new int[] {1, 4, 7, 9, 30, 49}) seen.set(t);
        float[] out = z.clone();
        Sampler.applyRepetitionPenalty(out, seen, 1.3f);
        for (int t = 0; t < z.length; t++) {
            float expect = !seen.get(t) ? z[t] : z[t] > 0 ? z[t] / 1.3f : z[t] * 1.3f;
            assertEquals(expect, out[t], 0f, "token " + t);
            if (seen.get(t) && z[t] != 0) assertTrue(out[t] < z[t], "a seen token becomes less likely: " + t);
        }
        // greedy decoding applies it too: the best token, once seen, loses to the runner-up
        float[] g = {1f, 4f, 3.5f};
        BitSet once = new BitSet();
        once.set(1);
        assertEquals(1, new Sampler(SamplingParams.greedy(5)).next(g.clone(), new BitSet()));
        assertEquals(2, new Sampler(new SamplingParams(5, 0f, 0, 1f, 1.2f, List.of(), true, 0)).next(g.clone(), once));
    }

    @Test
    void temperatureTopKAndTopPSampleTheirDistribution() {
        SplittableRandom r = new SplittableRandom(14);
        float[] z = new float[8];
        for (int i = 0; i < z.length; i++) z[i] = (float) r.nextGaussian();
        int draws = 100_000;
        for (float[] setting : new float[][] {{0.7f, 0, 1f}, {1.5f, 0, 1f}, {1f, 4, 1f}, {0.9f, 0, 0.8f}}) {
            float temp = setting[0], topP = setting[2];
            int topK = (int) setting[1];
            // float64 reference distribution: softmax(z / T), restricted to the kept set, renormalised
            double[] scaled = new double[z.length];
            float[] zs = new float[z.length];
            for (int i = 0; i < z.length; i++) zs[i] = z[i] / temp;
            int[] kept = Sampler.keep(zs, topK, topP);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int t : kept) max = Math.max(max, zs[t]);
            for (int t : kept) sum += scaled[t] = Math.exp(zs[t] - max);
            Sampler s = new Sampler(new SamplingParams(1, temp, topK, topP, 1f, List.of(), true, 99));
            int[] counts = new int[z.length];
            for (int d = 0; d < draws; d++) counts[s.next(z.clone(), new BitSet())]++;
            for (int t = 0; t < z.length; t++) {
                double p = scaled[t] / sum, f = counts[t] / (double) draws;
                double sigma = Math.sqrt(p * (1 - p) / draws);
                assertEquals(p, f, 5 * sigma + 1e-9, "token " + t + " at " + Arrays.toString(setting));
            }
            assertTrue(kept.length < z.length || (topK == 0 && topP == 1f), "the filters removed something");
        }
    }

    @Test
    void aSeedFixesTheTokens() {
        SplittableRandom r = new SplittableRandom(15);
        float[][] steps = new float[40][100];
        for (float[] s : steps) for (int i = 0; i < s.length; i++) s[i] = (float) r.nextGaussian();
        int[] a = run(steps, 7), b = run(steps, 7), c = run(steps, 8);
        assertArrayEquals(a, b);
        assertNotEquals(Arrays.toString(a), Arrays.toString(c), "another seed draws other tokens");
    }

    private static int[] run(float[][] steps, long seed) {
        Sampler s = new Sampler(new SamplingParams(40, 1f, 0, 0.95f, 1f, List.of(), true, seed));
        return Arrays.stream(steps).mapToInt(z -> s.next(z.clone(), new BitSet())).toArray();
    }
}
