package org.gpt4llm.datagen.text;

import java.util.Map;

/**
 * NLTK's PorterStemmer in its default mode (NLTK_EXTENSIONS), which rouge-score stems with: Porter's
 * 1980 algorithm with Martin Porter's later changes and NLTK's own (irregular forms, words of one or two
 * letters left alone, "ies"/"ied" on four-letter words, y→i only after a consonant, "alli" tried first
 * in step 2, "fulli" and "logi" rules). Input is a lower-case word.
 *
 * <p>Every rule list works like NLTK's: the first rule whose suffix the word ends with decides; if its
 * condition fails the word is left as it is (later rules are not tried).
 */
public final class PorterStemmer {
    /** Words mapped straight to a stem, the main algorithm bypassed. */
    private static final Map<String, String> IRREGULAR = Map.ofEntries(
            Map.entry("sky", "sky"), Map.entry("skies", "sky"),
            Map.entry("dying", "die"), Map.entry("lying", "lie"), Map.entry("tying", "tie"),
            Map.entry("news", "news"),
            Map.entry("innings", "inning"), Map.entry("inning", "inning"),
            Map.entry("outings", "outing"), Map.entry("outing", "outing"),
            Map.entry("cannings", "canning"), Map.entry("canning", "canning"),
            Map.entry("howe", "howe"),
            Map.entry("proceed", "proceed"), Map.entry("exceed", "exceed"), Map.entry("succeed", "succeed"));

    private interface Condition {
        boolean test(String stem);
    }

    private record Rule(String suffix, String replacement, Condition condition) {}

    private PorterStemmer() {}

    public static String stem(String word) {
        String irregular = IRREGULAR.get(word);
        if (irregular != null) return irregular;
        if (word.length() <= 2) return word;
        String w = step1a(word);
        w = step1b(w);
        w = step1c(w);
        w = step2(w);
        w = step3(w);
        w = step4(w);
        w = step5a(w);
        return step5b(w);
    }

    /** a, e, i, o, u are vowels; y is a consonant at the start or after a vowel, else a vowel. */
    static boolean consonant(String w, int i) {
        char c = w.charAt(i);
        if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') return false;
        if (c == 'y') return i == 0 || !consonant(w, i - 1);
        return true;
    }

    /** Porter's m: the number of vowel-run/consonant-run pairs, i.e. of "vc" in the word's c/v pattern. */
    static int measure(String stem) {
        int m = 0;
        for (int i = 1; i < stem.length(); i++) if (!consonant(stem, i - 1) && consonant(stem, i)) m++;
        return m;
    }

    private static boolean positiveMeasure(String stem) {
        return measure(stem) > 0;
    }

    private static boolean containsVowel(String stem) {
        for (int i = 0; i < stem.length(); i++) if (!consonant(stem, i)) return true;
        return false;
    }

    private static boolean endsDoubleConsonant(String w) {
        int n = w.length();
        return n >= 2 && w.charAt(n - 1) == w.charAt(n - 2) && consonant(w, n - 1);
    }

    /** Porter's *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK also takes a two-letter vowel-consonant word. */
    private static boolean endsCvc(String w) {
        int n = w.length();
        if (n >= 3 && consonant(w, n - 3) && !consonant(w, n - 2) && consonant(w, n - 1)) {
            char c = w.charAt(n - 1);
            return c != 'w' && c != 'x' && c != 'y';
        }
        return n == 2 && !consonant(w, 0) && consonant(w, 1);
    }

    private static String cut(String w, String suffix) {
        return w.substring(0, w.length() - suffix.length());
    }

    /** "*d" stands for any double consonant. */
    private static String applyFirst(String word, Rule... rules) {
        for (Rule r : rules) {
            String stem;
            if (r.suffix.equals("*d")) {
                if (!endsDoubleConsonant(word)) continue;
                stem = word.substring(0, word.length() - 2);
            } else if (word.endsWith(r.suffix)) {
                stem = cut(word, r.suffix);
            } else {
                continue;
            }
            return r.condition == null || r.condition.test(stem) ? stem + r.replacement : word;
        }
        return word;
    }

    private static String step1a(String w) {
        if (w.endsWith("ies") && w.length() == 4) return cut(w, "ies") + "ie"; // ties → tie, but flies → fli
        return applyFirst(w,
                new Rule("sses", "ss", null),
                new Rule("ies", "i", null),
                new Rule("ss", "ss", null),
                new Rule("s", "", null));
    }

    private static String step1b(String w) {
        if (w.endsWith("ied")) return cut(w, "ied") + (w.length() == 4 ? "ie" : "i"); // died → die, spied → spi
        if (w.endsWith("eed")) {
            String stem = cut(w, "eed");
            return measure(stem) > 0 ? stem + "ee" : w;
        }
        String stem = null;
        for (String suffix : new String[] {"ed", "ing"}) {
            if (w.endsWith(suffix) && containsVowel(cut(w, suffix))) {
                stem = cut(w, suffix);
                break;
            }
        }
        if (stem == null) return w;
        char last = stem.charAt(stem.length() - 1);
        String s = stem;
        return applyFirst(stem,
                new Rule("at", "ate", null),
                new Rule("bl", "ble", null),
                new Rule("iz", "ize", null),
                new Rule("*d", String.valueOf(last), x -> last != 'l' && last != 's' && last != 'z'),
                new Rule("", "e", x -> measure(s) == 1 && endsCvc(s)));
    }

    private static String step1c(String w) {
        return applyFirst(w, new Rule("y", "i", stem -> stem.length() > 1 && consonant(stem, stem.length() - 1)));
    }

    private static String step2(String w) {
        if (w.endsWith("alli") && positiveMeasure(cut(w, "alli"))) return step2(cut(w, "alli") + "al");
        Condition m0 = PorterStemmer::positiveMeasure;
        return applyFirst(w,
                new Rule("ational", "ate", m0),
                new Rule("tional", "tion", m0),
                new Rule("enci", "ence", m0),
                new Rule("anci", "ance", m0),
                new Rule("izer", "ize", m0),
                new Rule("bli", "ble", m0),
                new Rule("alli", "al", m0),
                new Rule("entli", "ent", m0),
                new Rule("eli", "e", m0),
                new Rule("ousli", "ous", m0),
                new Rule("ization", "ize", m0),
                new Rule("ation", "ate", m0),
                new Rule("ator", "ate", m0),
                new Rule("alism", "al", m0),
                new Rule("iveness", "ive", m0),
                new Rule("fulness", "ful", m0),
                new Rule("ousness", "ous", m0),
                new Rule("aliti", "al", m0),
                new Rule("iviti", "ive", m0),
                new Rule("biliti", "ble", m0),
                new Rule("fulli", "ful", m0),
                // the "l" stays with the stem, so short stems like geo-, theo- qualify
                new Rule("logi", "log", stem -> positiveMeasure(w.substring(0, w.length() - 3))));
    }

    private static String step3(String w) {
        Condition m0 = PorterStemmer::positiveMeasure;
        return applyFirst(w,
                new Rule("icate", "ic", m0),
                new Rule("ative", "", m0),
                new Rule("alize", "al", m0),
                new Rule("iciti", "ic", m0),
                new Rule("ical", "ic", m0),
                new Rule("ful", "", m0),
                new Rule("ness", "", m0));
    }

    private static String step4(String w) {
        Condition m1 = stem -> measure(stem) > 1;
        return applyFirst(w,
                new Rule("al", "", m1),
                new Rule("ance", "", m1),
                new Rule("ence", "", m1),
                new Rule("er", "", m1),
                new Rule("ic", "", m1),
                new Rule("able", "", m1),
                new Rule("ible", "", m1),
                new Rule("ant", "", m1),
                new Rule("ement", "", m1),
                new Rule("ment", "", m1),
                new Rule("ent", "", m1),
                new Rule("ion", "", stem -> measure(stem) > 1 && !stem.isEmpty()
                        && (stem.charAt(stem.length() - 1) == 's' || stem.charAt(stem.length() - 1) == 't')),
                new Rule("ou", "", m1),
                new Rule("ism", "", m1),
                new Rule("ate", "", m1),
                new Rule("iti", "", m1),
                new Rule("ous", "", m1),
                new Rule("ive", "", m1),
                new Rule("ize", "", m1));
    }

    private static String step5a(String w) {
        if (!w.endsWith("e")) return w;
        String stem = cut(w, "e");
        int m = measure(stem);
        return m > 1 || (m == 1 && !endsCvc(stem)) ? stem : w;
    }

    private static String step5b(String w) {
        return applyFirst(w, new Rule("ll", "l", stem -> measure(w.substring(0, w.length() - 1)) > 1));
    }
}
