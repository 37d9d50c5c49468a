package org.gpt4llm.datagen.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.gpt4llm.testing.TestSeeds;

class RougeTest {
    @Test
    void tokenizesLikeRougeScore() {
        assertEquals(List.of("hello", "world", "it", "s", "2023"), Rouge.tokens("Hello, World! It's 2023."));
        assertEquals(List.of("tab", "new", "line"), Rouge.tokens("  tab\tnew\nline  "));
        assertEquals(List.of("caf", "world"), Rouge.tokens("Café 你好 world"));
        assertEquals(List.of(), Rouge.tokens("你好，世界"));
    }

    @Test
    void identicalIsOneDisjointIsZero() {
        Rouge.Score same = Rouge.score("Give three tips for staying healthy.", "give three TIPS for staying healthy", false).rougeL();
        assertEquals(1.0, same.fmeasure());
        assertEquals(1.0, same.precision());
        assertEquals(1.0, same.recall());
        assertEquals(0.0, Rouge.score("the cat sat", "a dog ran", false).rougeL().fmeasure());
        assertEquals(0.0, Rouge.score("", "a dog ran", false).rougeL().fmeasure());
        assertEquals(0.0, Rouge.score("你好", "你好", false).rougeL().fmeasure());
    }

    @Test
    void workedExamples() {
        // the cat [sat] on [the] mat vs the cat [lay] on [a] mat: LCS "the cat on mat" = 4 of 6 each side
        Rouge.Score s = Rouge.score("the cat sat on the mat", "the cat lay on a mat", false).rougeL();
        assertEquals(4.0 / 6, s.precision(), 1e-15);
        assertEquals(4.0 / 6, s.recall(), 1e-15);
        assertEquals(2.0 / 3, s.fmeasure(), 1e-15);
        // target a b c d e (5), prediction a c e f (4): LCS "a c e" = 3; P = 3/4, R = 3/5, F = 2PR/(P+R) = 0.9/1.35
        Rouge.Score t = Rouge.score("a b c d e", "a c e f", false).rougeL();
        assertEquals(0.75, t.precision(), 1e-15);
        assertEquals(0.6, t.recall(), 1e-15);
        assertEquals(0.9 / 1.35, t.fmeasure(), 1e-15);
        // order matters for LCS, not for ROUGE-1: reversed tokens share one in sequence
        assertEquals(2.0 * (1.0 / 3) * (1.0 / 3) / (2.0 / 3), Rouge.score("x y z", "z y x", false).rougeL().fmeasure(), 1e-15);
    }

    @Test
    void punctuationOnlyHasNoTokensAndScoresZero() {
        // every character is outside [a-z0-9], so all of it becomes spaces: no tokens at all
        assertEquals(List.of(), Rouge.tokens("?!... --- ,;:'\"()", true));
        assertAllF(0, 0, 0, Rouge.score("?!...", "hello", true));
        assertAllF(0, 0, 0, Rouge.score("hello", "!!!", true));
        assertAllF(0, 0, 0, Rouge.score("...", "...", true));
    }

    @Test
    void nonAsciiLettersVanishAndSplitWords() {
        // "crème" = c r è m e: è becomes a space, leaving "cr" and "me"; "brûlée" → "br", "l", "e"
        assertEquals(List.of("caf", "cr", "me", "br", "l", "e"), Rouge.tokens("Café crème brûlée", false));
        // no token is longer than 3 characters, so stemming changes nothing
        assertEquals(List.of("caf", "cr", "me", "br", "l", "e"), Rouge.tokens("Café crème brûlée", true));
        // target [caf, au, lait] vs prediction [caf, noir]: ROUGE-1 overlap 1, P = 1/2, R = 1/3, F = 2/5;
        // bigrams (caf au)(au lait) vs (caf noir) share none
        Rouge.Scores s = Rouge.score("Café au lait", "café noir", false);
        assertAllF(2.0 / 5, 0, 2.0 / 5, s);
    }

    @Test
    void numbersAreTokensAndDigitsSplitAtPunctuation() {
        // "3.14" → "3", "14"; the comma and "!" go
        assertEquals(List.of("3", "14", "is", "pi", "42"), Rouge.tokens("3.14 is pi, 42!", true));
        // "1990s" is longer than 3: Porter step 1a drops the s (digits count as consonants)
        assertEquals(List.of("the", "1990"), Rouge.tokens("the 1990s", true));
        assertEquals(List.of("the", "1990s"), Rouge.tokens("the 1990s", false));
        // target [3, 14] vs prediction [3, 1, 4]: one unigram in common, P = 1/3, R = 1/2, F = 2/5
        assertAllF(2.0 / 5, 0, 2.0 / 5, Rouge.score("3.14", "3,1,4", false));
    }

    @Test
    void repeatedWordsCountAsMultisets() {
        // target [the the the cat], prediction [the the dog]
        // ROUGE-1: min(3, 2) "the" + 0 = 2; P = 2/3, R = 2/4; F = 2·(1/3)/(7/6) = 4/7
        // ROUGE-2: target (the the)×2 (the cat)×1, prediction (the the)×1 (the dog)×1: overlap min(2,1) = 1;
        //          P = 1/2, R = 1/3, F = 2·(1/6)/(5/6) = 2/5
        // ROUGE-L: LCS "the the" = 2, the same P and R as ROUGE-1: 4/7
        Rouge.Scores s = Rouge.score("the the the cat", "the the dog", false);
        assertAllF(4.0 / 7, 2.0 / 5, 4.0 / 7, s);
        assertEquals(2.0 / 3, s.rouge1().precision(), 1e-15);
        assertEquals(1.0 / 2, s.rouge1().recall(), 1e-15);
        // a prediction repeating the one target word four times: overlap min(1, 4) = 1, P = 1/4, R = 1, F = 2/5;
        // the one-word target has no bigram, so ROUGE-2 is 0
        assertAllF(2.0 / 5, 0, 2.0 / 5, Rouge.score("the", "the the the the", false));
    }

    @Test
    void emptyStringsScoreZero() {
        assertAllF(0, 0, 0, Rouge.score("", "", true));
        assertAllF(0, 0, 0, Rouge.score("", "something", true));
        assertAllF(0, 0, 0, Rouge.score("something", "", true));
        assertAllF(0, 0, 0, Rouge.score("   \n\t ", "something", true));
    }

    @Test
    void severalReferencesTakeTheBestOfEachMeasure() {
        // prediction [a b c d]
        // reference A [d c b a]: ROUGE-1 overlap 4, P = R = 1, F = 1; no bigram in common; LCS 1, F = 1/4
        // reference B [a b x]:   ROUGE-1 overlap 2, P = 1/2, R = 2/3, F = (2/3)/(7/6) = 4/7;
        //                        bigram (a b) shared, P = 1/3, R = 1/2, F = 2/5; LCS "a b" = 2, F = 4/7
        // the best of each measure comes from a different reference: 1 (A), 2/5 (B), 4/7 (B)
        Rouge.Scores s = Rouge.scoreMulti(List.of("d c b a", "a b x"), "a b c d", false);
        assertAllF(1, 2.0 / 5, 4.0 / 7, s);
        // the order of the references does not matter
        assertAllF(1, 2.0 / 5, 4.0 / 7, Rouge.scoreMulti(List.of("a b x", "d c b a"), "a b c d", false));
        // one reference: the same as score
        assertEquals(Rouge.score("a b x", "a b c d", false), Rouge.scoreMulti(List.of("a b x"), "a b c d", false));
    }

    @Test
    void stemmingMatchesInflectionsButNotIrregularPastTenses() {
        // target [the, dogs→dog, were, running→run] ("the" has 3 characters: not stemmed; "were": Porter
        // step 5a keeps the e since the stem "wer" has m = 1 and ends consonant-vowel-consonant);
        // prediction [a, dog, runs→run]. ROUGE-1: dog, run in common, P = 2/3, R = 2/4, F = 4/7;
        // bigrams (the dog)(dog were)(were run) vs (a dog)(dog run): none; LCS "dog run" = 2: F = 4/7
        assertEquals(List.of("the", "dog", "were", "run"), Rouge.tokens("The dogs were running", true));
        assertAllF(4.0 / 7, 0, 4.0 / 7, Rouge.score("The dogs were running", "A dog runs", true));
        // without stemming nothing matches
        assertAllF(0, 0, 0, Rouge.score("The dogs were running", "A dog runs", false));
        // "ran" has 3 characters and is never stemmed (Porter would leave it anyway): [he, ran] vs [he, run]
        // share only "he": P = R = 1/2
        assertAllF(1.0 / 2, 0, 1.0 / 2, Rouge.score("He ran.", "He runs.", true));
    }

    private static void assertAllF(double rouge1, double rouge2, double rougeL, Rouge.Scores s) {
        assertEquals(rouge1, s.rouge1().fmeasure(), 1e-15, "rouge1");
        assertEquals(rouge2, s.rouge2().fmeasure(), 1e-15, "rouge2");
        assertEquals(rougeL, s.rougeL().fmeasure(), 1e-15, "rougeL");
    }

    /** The row-by-row LCS against the exhaustive recursion, on fresh random token lists; the bound holds. */
    @Test
    void lcsMatchesRecursionOnRandomLists() {
        Random random = TestSeeds.random();
        for (int trial = 0; trial < 300; trial++) {
            List<String> a = randomTokens(random), b = randomTokens(random);
            assertEquals(recursiveLcs(a, b, 0, 0, new Integer[a.size() + 1][b.size() + 1]), Rouge.lcs(a, b), a + " vs " + b);
            assertEquals(Rouge.rougeL(a, b).fmeasure(), Rouge.rougeL(b, a).fmeasure(), 1e-15);
            assertTrue(Rouge.rougeL(a, b).fmeasure() <= Rouge.fmeasureBound(a.size(), b.size()) + 1e-15);
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
