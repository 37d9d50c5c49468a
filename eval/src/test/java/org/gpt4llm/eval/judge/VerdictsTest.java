package org.gpt4llm.eval.judge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class VerdictsTest {
    private static void pair(String answer, double a, double b) {
        Verdicts.Parsed p = Verdicts.scorePair(answer, false);
        assertTrue(p.ok(), () -> answer + " → " + p.error());
        assertArrayEquals(new double[] {a, b}, p.scores(), 0, answer);
    }

    private static void noPair(String answer, boolean tuple) {
        Verdicts.Parsed p = Verdicts.scorePair(answer, tuple);
        assertFalse(p.ok(), answer);
        assertNull(p.scores());
        assertFalse(p.error().isBlank());
    }

    @Test
    void vicunaScoreLinesInEveryFormTheReviewersUse() {
        pair("8 9\nAssistant 1 was less detailed.", 8, 9);
        pair("8, 9\nBoth were fine.", 8, 9);
        pair("8,9", 8, 9);
        pair("8.5 7\nexplanation", 8.5, 7);
        pair("  \n\n7 10\nexplanation", 7, 10);
        pair("**6 4**\nexplanation", 6, 4);
        pair("8/10 9/10\nexplanation", 8, 9);
        pair("(3, 5)\nexplanation", 3, 5);
        pair("Assistant 1: 8\nAssistant 2: 9\n\nAssistant 1 gave ...", 8, 9);
        pair("Assistant 1: 7.5, Assistant 2: 6\nexplanation", 7.5, 6);
        pair("**Assistant 2**: 4\n**Assistant 1**: 9", 9, 4);
    }

    @Test
    void theMathReviewersTupleIsReadAnywhereOnlyForIt() {
        String math = "First, solve it: 3x + 10 = 5x - 10, so x = 10.\nAssistant 1 is right; Assistant 2 slipped.\n(10, 4)";
        noPair(math, false);
        Verdicts.Parsed p = Verdicts.scorePair(math, true);
        assertArrayEquals(new double[] {10, 4}, p.scores(), 0);
        // the last tuple wins: an earlier one is working, not the verdict
        assertArrayEquals(new double[] {2, 9}, Verdicts.scorePair("f(1, 2) = 3\nso\n(2, 9)", true).scores(), 0);
    }

    @Test
    void garbageIsMarkedNeverZero() {
        noPair("", false);
        noPair("I cannot compare these answers.", false);
        noPair("8\nAssistant 2 did not answer", false);
        noPair("8 9 7", false);
        noPair("Score: eight and nine", false);
        noPair("11 3", false);
        noPair("Assistant 1 gave 3 examples while Assistant 2 gave 5.", false);
        noPair("Assistant 1: 8\nno second score here", false);
        noPair("I like (both) of them", true);
    }

    @Test
    void pairwiseVerdicts() {
        assertEquals('A', Verdicts.pairwise("A is more detailed. [[A]]").winner());
        assertEquals('B', Verdicts.pairwise("Final verdict: [[B]]").winner());
        assertEquals('C', Verdicts.pairwise("They are equal.\n[[C]]").winner());
        assertEquals('A', Verdicts.pairwise("[[A]] ... again [[A]]").winner());
        assertNull(Verdicts.pairwise("Assistant A is better.").winner());
        assertNull(Verdicts.pairwise("[A]").winner());
        assertNull(Verdicts.pairwise("[[A]] or maybe [[B]]").winner());
        assertTrue(Verdicts.pairwise("[[A]] or maybe [[B]]").error().contains("both"));
        assertNull(Verdicts.pairwise("").winner());
    }

    @Test
    void singleRatings() {
        assertArrayEquals(new double[] {5}, Verdicts.rating("Good.\nRating: [[5]]").scores(), 0);
        assertArrayEquals(new double[] {8.5}, Verdicts.rating("Rating: [[8.5]]").scores(), 0);
        assertArrayEquals(new double[] {6}, Verdicts.rating("Rating: [6]").scores(), 0);
        assertArrayEquals(new double[] {7}, Verdicts.rating("[[7]] then [3]").scores(), 0);
        assertFalse(Verdicts.rating("Rating: seven").ok());
        assertFalse(Verdicts.rating("Rating: [[42]]").ok());
        assertFalse(Verdicts.rating(null).ok());
    }
}
