package org.gpt4llm.datagen.text;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * ROUGE-1, ROUGE-2 and ROUGE-L as Google's rouge-score computes them.
 *
 * <p>Tokens: the text lower-cased, every run of characters other than {@code [a-z0-9]} made a space,
 * split on spaces (so non-Latin text has no tokens); with stemming, tokens longer than 3 characters go
 * through NLTK's Porter stemmer. ROUGE-N: the n-grams of each side as multisets, overlap = Σ min(count in
 * target, count in prediction), precision = overlap/#prediction n-grams, recall = overlap/#target
 * n-grams. ROUGE-L: L = longest common subsequence of the token lists, precision = L/n, recall = L/m.
 * F = 2PR/(P+R), 0 when P+R = 0; everything is 0 when either side has no tokens (or n-grams).
 */
public final class Rouge {
    /** precision, recall and F-measure of one prediction against one target. */
    public record Score(double precision, double recall, double fmeasure) {
        static final Score ZERO = new Score(0, 0, 0);

        static Score of(int overlap, int predictionCount, int targetCount) {
            if (predictionCount == 0 || targetCount == 0) return ZERO;
            double p = (double) overlap / predictionCount, r = (double) overlap / targetCount;
            return new Score(p, r, p + r == 0 ? 0 : 2 * p * r / (p + r));
        }
    }

    /** The three scores rouge-score reports as rouge1, rouge2 and rougeL. */
    public record Scores(Score rouge1, Score rouge2, Score rougeL) {}

    private Rouge() {}

    /** rouge-score's tokenizer without stemming. */
    public static List<String> tokens(String text) {
        return tokens(text, false);
    }

    public static List<String> tokens(String text, boolean stem) {
        String lower = text.toLowerCase(Locale.ROOT);
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i <= lower.length(); i++) {
            char c = i < lower.length() ? lower.charAt(i) : ' ';
            boolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            if (alnum && start < 0) start = i;
            if (!alnum && start >= 0) {
                String token = lower.substring(start, i);
                out.add(stem && token.length() > 3 ? PorterStemmer.stem(token) : token);
                start = -1;
            }
        }
        return out;
    }

    /** ROUGE-1/2/L of a prediction against one target. */
    public static Scores score(String target, String prediction, boolean stem) {
        List<String> t = tokens(target, stem), p = tokens(prediction, stem);
        return new Scores(rougeN(t, p, 1), rougeN(t, p, 2), rougeL(t, p));
    }

    /** Against several targets, as rouge-score's score_multi: for each measure, the score of the target with the largest F. */
    public static Scores scoreMulti(List<String> targets, String prediction, boolean stem) {
        if (targets.isEmpty()) throw new IllegalArgumentException("no targets to score against");
        Scores best = null;
        for (String target : targets) {
            Scores s = score(target, prediction, stem);
            best = best == null ? s : new Scores(
                    better(best.rouge1, s.rouge1), better(best.rouge2, s.rouge2), better(best.rougeL, s.rougeL));
        }
        return best;
    }

    /** The first of equal F-measures wins, as Python's max does. */
    private static Score better(Score kept, Score next) {
        return next.fmeasure > kept.fmeasure ? next : kept;
    }

    public static Score rougeN(List<String> target, List<String> prediction, int n) {
        Map<List<String>, Integer> t = ngrams(target, n), p = ngrams(prediction, n);
        int overlap = 0;
        for (Map.Entry<List<String>, Integer> e : t.entrySet()) overlap += Math.min(e.getValue(), p.getOrDefault(e.getKey(), 0));
        return Score.of(overlap, Math.max(0, prediction.size() - n + 1), Math.max(0, target.size() - n + 1));
    }

    public static Score rougeL(List<String> target, List<String> prediction) {
        if (target.isEmpty() || prediction.isEmpty()) return Score.ZERO;
        return Score.of(lcs(target, prediction), prediction.size(), target.size());
    }

    /**
     * The largest ROUGE-L F-measure two token lists of these lengths can have (when the shorter is a
     * subsequence of the longer): 2·min/(m+n). Lets a search skip the LCS when it cannot pass a bound.
     */
    public static double fmeasureBound(int m, int n) {
        return m == 0 || n == 0 ? 0 : 2.0 * Math.min(m, n) / (m + n);
    }

    private static Map<List<String>, Integer> ngrams(List<String> tokens, int n) {
        Map<List<String>, Integer> counts = new HashMap<>();
        for (int i = 0; i + n <= tokens.size(); i++) counts.merge(tokens.subList(i, i + n), 1, Integer::sum);
        return counts;
    }

    /** Length of the longest common subsequence: the usual dynamic program, one row at a time. */
    static int lcs(List<String> a, List<String> b) {
        int[] prev = new int[b.size() + 1], cur = new int[b.size() + 1];
        for (String x : a) {
            for (int j = 1; j <= b.size(); j++) {
                cur[j] = x.equals(b.get(j - 1)) ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.size()];
    }
}
