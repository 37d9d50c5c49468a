package org.gpt4llm.eval.judge;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reading the judge's answer. Each parser returns a {@link Parsed} that either holds the scores or
 * says why there are none: an answer nobody can read is marked and counted by the caller, never
 * taken as a score of 0.
 */
public final class Verdicts {
    private Verdicts() {}

    /** Scores read from an answer, or the reason there are none ({@code scores} null). */
    public record Parsed(double[] scores, String error) {
        static Parsed ok(double... scores) {
            return new Parsed(scores, null);
        }

        static Parsed fail(String error) {
            return new Parsed(null, error);
        }

        public boolean ok() {
            return scores != null;
        }
    }

    private static final String NUM = "(\\d+(?:\\.\\d+)?)";
    /** "Assistant 1: 8", "**Assistant 2 score**: 7.5", "Assistant 1 - 9/10". */
    private static final Pattern LABELLED = Pattern.compile("assistant\\s*([12])\\s*(?:'s)?\\s*(?:score)?\\s*[:：=\\-]?\\s*" + NUM,
            Pattern.CASE_INSENSITIVE);
    /** "/10", "/ 10.0", "out of 10": the scale, not a score. */
    private static final Pattern SCALE = Pattern.compile("(?:/\\s*|\\bout\\s+of\\s+)10(?:\\.0+)?\\b", Pattern.CASE_INSENSITIVE);
    /** The math reviewer's Python tuple "(8, 9)", anywhere (its prompt asks for it last). */
    private static final Pattern TUPLE = Pattern.compile("\\(\\s*" + NUM + "\\s*,\\s*" + NUM + "\\s*\\)");
    private static final Pattern VERDICT = Pattern.compile("\\[\\[([ABC])\\]\\]");
    private static final Pattern RATING = Pattern.compile("\\[\\[" + NUM + "\\]\\]");
    private static final Pattern RATING_BACKUP = Pattern.compile("\\[" + NUM + "\\]");

    /**
     * The Vicuna reviewers' two scores, for Assistant 1 and 2. As FastChat's {@code parse_score}: the
     * first line holds exactly two values, separated by a space or a comma ("8 9", "8, 9", "8.5 7");
     * also read: markdown emphasis and brackets around them, the scale ("8/10 9/10"), labels on the
     * first two lines ("Assistant 1: 8\nAssistant 2: 9") and, for the math reviewer
     * ({@code tupleAnywhere}), the last "(8, 9)" tuple of the answer. Scores must be in 0..10.
     */
    public static Parsed scorePair(String answer, boolean tupleAnywhere) {
        if (answer == null || answer.isBlank()) return Parsed.fail("the judge's answer is empty");
        List<String> lines = new ArrayList<>();
        for (String l : answer.strip().split("\\R")) if (!l.isBlank()) lines.add(l.strip());
        String first = lines.getFirst();

        // labelled scores on the first line or the first two
        String head = lines.size() > 1 ? first + "\n" + lines.get(1) : first;
        double[] labelled = new double[] {Double.NaN, Double.NaN};
        Matcher m = LABELLED.matcher(SCALE.matcher(head.replace("*", "")).replaceAll(""));
        while (m.find()) {
            int which = m.group(1).charAt(0) - '1';
            if (Double.isNaN(labelled[which])) labelled[which] = Double.parseDouble(m.group(2));
        }
        if (!Double.isNaN(labelled[0]) && !Double.isNaN(labelled[1])) return inRange(labelled[0], labelled[1]);

        // the first line is two values and nothing else
        String bare = SCALE.matcher(first).replaceAll(" ").replaceAll("[*#`()\\[\\]]", " ").replaceAll("[,;\\t]", " ").strip();
        String[] parts = bare.isEmpty() ? new String[0] : bare.split("\\s+");
        if (parts.length == 2 && parts[0].matches(NUM) && parts[1].matches(NUM)) {
            return inRange(Double.parseDouble(parts[0]), Double.parseDouble(parts[1]));
        }

        if (tupleAnywhere) {
            Matcher t = TUPLE.matcher(answer);
            double[] last = null;
            while (t.find()) last = new double[] {Double.parseDouble(t.group(1)), Double.parseDouble(t.group(2))};
            if (last != null) return inRange(last[0], last[1]);
        }
        return Parsed.fail("the first line is not two scores: \"" + abbreviate(first) + "\"");
    }

    private static Parsed inRange(double a, double b) {
        if (a > 10 || b > 10) return Parsed.fail("scores " + a + " and " + b + " are outside 0..10");
        return Parsed.ok(a, b);
    }

    /** FastChat's pairwise verdict: "[[A]]", "[[B]]" or "[[C]]" (a tie), exactly one kind of them in the answer. */
    public static Verdict pairwise(String answer) {
        if (answer == null || answer.isBlank()) return new Verdict(null, "the judge's answer is empty");
        Matcher m = VERDICT.matcher(answer);
        String seen = null;
        while (m.find()) {
            if (seen != null && !seen.equals(m.group(1))) return new Verdict(null, "the answer gives both [[" + seen + "]] and [[" + m.group(1) + "]]");
            seen = m.group(1);
        }
        if (seen == null) return new Verdict(null, "no [[A]], [[B]] or [[C]] verdict in the answer");
        return new Verdict(seen.charAt(0), null);
    }

    /** A pairwise verdict: 'A', 'B', 'C' (tie), or null with the reason. */
    public record Verdict(Character winner, String error) {}

    /** FastChat's single-answer grade: the first "[[rating]]", else the first "[rating]"; in 0..10. */
    public static Parsed rating(String answer) {
        if (answer == null || answer.isBlank()) return Parsed.fail("the judge's answer is empty");
        Matcher m = RATING.matcher(answer);
        if (!m.find()) {
            m = RATING_BACKUP.matcher(answer);
            if (!m.find()) return Parsed.fail("no [[rating]] in the answer");
        }
        double r = Double.parseDouble(m.group(1));
        if (r > 10) return Parsed.fail("rating " + r + " is outside 0..10");
        return Parsed.ok(r);
    }

    static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
