package org.gpt4llm.datagen.text;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * ROUGE-L as Google's rouge-score computes it without stemming.
 *
 * <p>Tokens: the text lower-cased, every run of characters other than {@code [a-z0-9]} made a space,
 * split on spaces (so non-Latin text has no tokens). With L the length of the longest common
 * subsequence of the target's m tokens and the prediction's n tokens: precision = L/n, recall = L/m,
 * F = 2PR/(P+R); all three are 0 when either side has no tokens or L = 0.
 */
public final class RougeL {
    /** precision, recall and F-measure of one prediction against one target. */
    public record Score(double precision, double recall, double fmeasure) {}

    private RougeL() {}

    /** rouge-score's tokenizer (no stemming). */
    public static List<String> tokens(String text) {
        String lower = text.toLowerCase(Locale.ROOT);
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i <= lower.length(); i++) {
            char c = i < lower.length() ? lower.charAt(i) : ' ';
            boolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            if (alnum && start < 0) start = i;
            if (!alnum && start >= 0) {
                out.add(lower.substring(start, i));
                start = -1;
            }
        }
        return out;
    }

    public static Score score(String target, String prediction) {
        return score(tokens(target), tokens(prediction));
    }

    public static Score score(List<String> target, List<String> prediction) {
        if (target.isEmpty() || prediction.isEmpty()) return new Score(0, 0, 0);
        int lcs = lcs(target, prediction);
        double p = (double) lcs / prediction.size(), r = (double) lcs / target.size();
        return new Score(p, r, p + r == 0 ? 0 : 2 * p * r / (p + r));
    }

    /** The F-measure; symmetric in its arguments. */
    public static double fmeasure(List<String> a, List<String> b) {
        return score(a, b).fmeasure();
    }

    /**
     * The largest F-measure two token lists of these lengths can have (when the shorter is a
     * subsequence of the longer): 2·min/(m+n). Lets a search skip the LCS when it cannot pass a bound.
     */
    public static double fmeasureBound(int m, int n) {
        return m == 0 || n == 0 ? 0 : 2.0 * Math.min(m, n) / (m + n);
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
