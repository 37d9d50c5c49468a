package org.gpt4llm.datagen.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RougeLTest {
    @Test
    void tokenizesLikeRougeScore() {
        assertEquals(List.of("hello", "world", "it", "s", "2023"), RougeL.tokens("Hello, World! It's 2023."));
        assertEquals(List.of("tab", "new", "line"), RougeL.tokens("  tab\tnew\nline  "));
        assertEquals(List.of("caf", "world"), RougeL.tokens("Café 你好 world"));
        assertEquals(List.of(), RougeL.tokens("你好，世界"));
    }

    @Test
    void identicalIsOneDisjointIsZero() {
        RougeL.Score same = RougeL.score("Give three tips for staying healthy.", "give three TIPS for staying healthy");
        assertEquals(1.0, same.fmeasure());
        assertEquals(1.0, same.precision());
        assertEquals(1.0, same.recall());
        assertEquals(0.0, RougeL.score("the cat sat", "a dog ran").fmeasure());
        assertEquals(0.0, RougeL.score("", "a dog ran").fmeasure());
        assertEquals(0.0, RougeL.score("你好", "你好").fmeasure());
    }

    @Test
    void workedExamples() {
        // the cat [sat] on [the] mat vs the cat [lay] on [a] mat: LCS "the cat on mat" = 4 of 6 each side
        RougeL.Score s = RougeL.score("the cat sat on the mat", "the cat lay on a mat");
        assertEquals(4.0 / 6, s.precision(), 1e-15);
        assertEquals(4.0 / 6, s.recall(), 1e-15);
        assertEquals(2.0 / 3, s.fmeasure(), 1e-15);
        // target a b c d e (5), prediction a c e f (4): LCS "a c e" = 3; P = 3/4, R = 3/5, F = 2PR/(P+R) = 0.9/1.35
        RougeL.Score t = RougeL.score("a b c d e", "a c e f");
        assertEquals(0.75, t.precision(), 1e-15);
        assertEquals(0.6, t.recall(), 1e-15);
        assertEquals(0.9 / 1.35, t.fmeasure(), 1e-15);
        // order matters for LCS, not for ROUGE-1: reversed tokens share one in sequence
        assertEquals(2.0 * (1.0 / 3) * (1.0 / 3) / (2.0 / 3), RougeL.score("x y z", "z y x").fmeasure(), 1e-15);
    }

    /** The row-by-row LCS against the exhaustive recursion, on fresh random token lists; the bound holds. */
    @Test
    void lcsMatchesRecursionOnRandomLists() {
        Random random = new Random(System.nanoTime());
        for (int trial = 0; trial < 300; trial++) {
            List<String> a = randomTokens(random), b = randomTokens(random);
            assertEquals(recursiveLcs(a, b, 0, 0, new Integer[a.size() + 1][b.size() + 1]), RougeL.lcs(a, b), a + " vs " + b);
            assertEquals(RougeL.fmeasure(a, b), RougeL.fmeasure(b, a), 1e-15);
            assertTrue(RougeL.fmeasure(a, b) <= RougeL.fmeasureBound(a.size(), b.size()) + 1e-15);
        }
    }

    private static List<String> randomTokens(Random random) {
        List<String> out = new ArrayList<>();
        int n = random.nextInt(12);
        for (int i = 0; i < n; i++) out.add(String.valueOf((char) ('a' + random.nextInt(5))));
        return out;
    }

    private static int recursiveLcs(List<String> a, List<String> b, int i, int j, Integer[][] memo) {
        if (i == a.size() || j == b.size()) return 0;
        if (memo[i][j] != null) return memo[i][j];
        int r = a.get(i).equals(b.get(j)) ? 1 + recursiveLcs(a, b, i + 1, j + 1, memo)
                : Math.max(recursiveLcs(a, b, i + 1, j, memo), recursiveLcs(a, b, i, j + 1, memo));
        return memo[i][j] = r;
    }
}
