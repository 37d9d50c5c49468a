package org.gpt4llm.datagen.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * NLTK's PorterStemmer (NLTK_EXTENSIONS) on words whose stems are worked out below step by step.
 * m = measure = number of "vc" in the word's consonant/vowel pattern (y is a vowel after a consonant).
 */
class PorterStemmerTest {
    @Test
    void pluralsAndStep1a() {
        // 1a: "sses" → "ss"; nothing later matches "caress"
        assertEquals("caress", PorterStemmer.stem("caresses"));
        // 1a: "ies" → "i" (6 letters); "poni" matches no later suffix
        assertEquals("poni", PorterStemmer.stem("ponies"));
        // NLTK: a four-letter word in "ies" becomes "ie"; 5a keeps the e since "ti" has m = 0
        assertEquals("tie", PorterStemmer.stem("ties"));
        // five letters: the plain rule, "ies" → "i"
        assertEquals("fli", PorterStemmer.stem("flies"));
        // 1a: "s" → "" ; "run" matches nothing else
        assertEquals("run", PorterStemmer.stem("runs"));
    }

    @Test
    void edAndIngInStep1b() {
        // 1b: "eed" with stem "agr" (vcc, m = 1 > 0) → "agree"; 5a: "agre" has m = 1 and does not end
        // consonant-vowel-consonant (g, r are both consonants), so the e goes
        assertEquals("agre", PorterStemmer.stem("agreed"));
        // 1b: "eed" with stem "f" (m = 0): the word stays, and "ed" is not tried after
        assertEquals("feed", PorterStemmer.stem("feed"));
        // 1b: "ing" off "runn" (has a vowel); double consonant nn, not l/s/z → "run"
        assertEquals("run", PorterStemmer.stem("running"));
        // 1b: "ing" off → "mat"; "at" → "ate"; 5a keeps the e ("mat": m = 1 and ends c-v-c)
        assertEquals("mate", PorterStemmer.stem("mating"));
        // 1b: "ing" off → "fall"; double l is kept, and no later 1b rule is tried; 5b: "fal" has m = 1, not > 1
        assertEquals("fall", PorterStemmer.stem("falling"));
        // NLTK: four-letter "ied" → "ie", longer → "i"
        assertEquals("die", PorterStemmer.stem("died"));
        assertEquals("spi", PorterStemmer.stem("spied"));
        // 1a "meeting"; 1b "ing" off → "meet": m = 1 but "eet" is v-v-c, not c-v-c, so no e is added
        assertEquals("meet", PorterStemmer.stem("meetings"));
    }

    @Test
    void irregularFormsBypassTheAlgorithm() {
        assertEquals("die", PorterStemmer.stem("dying"));
        assertEquals("lie", PorterStemmer.stem("lying"));
        assertEquals("sky", PorterStemmer.stem("sky"));
        assertEquals("sky", PorterStemmer.stem("skies"));
        // without the table 1a would strip the s
        assertEquals("news", PorterStemmer.stem("news"));
        assertEquals("inning", PorterStemmer.stem("innings"));
        // without the table 1b would make "proce" (stem "proc" has m = 1 > 0)
        assertEquals("proceed", PorterStemmer.stem("proceed"));
    }

    @Test
    void yToIOnlyAfterAConsonant() {
        // 1c: y after p (consonant) → "happi"
        assertEquals("happi", PorterStemmer.stem("happy"));
        // 1c: y after o (vowel) stays; nothing else matches
        assertEquals("enjoy", PorterStemmer.stem("enjoy"));
        // 3: "ness" off "happi" (c-v-c-c-v, m = 1 > 0)
        assertEquals("happi", PorterStemmer.stem("happiness"));
    }

    @Test
    void laterSteps() {
        // 2: "ational" → "ate" on "rel" (m = 1) → "relate"; 4: "ate" needs m("rel") > 1, no;
        // 5a: "relat" has m = 2 → "relat"
        assertEquals("relat", PorterStemmer.stem("relational"));
        // 1c: "generousli"; 2: "ousli" → "ous" on "gener" (m = 2) → "generous"; 4: "ous" off (m = 2 > 1)
        assertEquals("gener", PorterStemmer.stem("generously"));
        // 2: "ization" → "ize" on "general" (m = 3) → "generalize"; 3: "alize" → "al" on "gener" → "general";
        // 4: "al" off "gener" (m = 2 > 1)
        assertEquals("gener", PorterStemmer.stem("generalization"));
        // 2: "tional" → "tion" ("condi", m = 1); 4: "ion" off since "condit" has m = 2 and ends in t
        assertEquals("condit", PorterStemmer.stem("conditional"));
        // 3: "ful" off "hope" (m = 1 > 0); 5a keeps the e ("hop": m = 1, ends c-v-c)
        assertEquals("hope", PorterStemmer.stem("hopeful"));
        // 1c: "geologi"; 2 (NLTK): "logi" → "log" when the stem with its l, "geol", has m > 0 → "geolog"
        assertEquals("geolog", PorterStemmer.stem("geology"));
        // 2: "izer" → "ize" ("digit", m = 2); 4: "ize" off (m = 2 > 1)
        assertEquals("digit", PorterStemmer.stem("digitizer"));
    }

    @Test
    void step4AndStep5() {
        // 4: "ion" off only after s or t and with m > 1: "adopt" = v-c-v-c-c, m = 2, ends in t
        assertEquals("adopt", PorterStemmer.stem("adoption"));
        // 4: "ement" comes before "ment" and "ent": "replac" = c-v-c-c-v-c, m = 2
        assertEquals("replac", PorterStemmer.stem("replacement"));
        // 4: "ance" off "allow" (w after a vowel is a consonant: v-c-c-v-c, m = 2)
        assertEquals("allow", PorterStemmer.stem("allowance"));
        // 5a: "ceas" has m = 1 and does not end c-v-c (e, a are vowels): the e goes; "rat" ends c-v-c: it stays
        assertEquals("ceas", PorterStemmer.stem("cease"));
        assertEquals("rate", PorterStemmer.stem("rate"));
        // 1b: "ing" off, the double l kept; 5b: "control" has m = 2 > 1, so "ll" → "l"; "rol" has m = 1
        assertEquals("control", PorterStemmer.stem("controlling"));
        assertEquals("roll", PorterStemmer.stem("roll"));
    }

    @Test
    void wordsOfOneOrTwoLettersAreLeftAlone() {
        // the plain algorithm would make "is" → "i" in step 1a
        assertEquals("is", PorterStemmer.stem("is"));
        assertEquals("a", PorterStemmer.stem("a"));
    }
}
