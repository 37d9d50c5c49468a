package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Python's str methods, by code point as Python counts characters; the string filters use them too. */
final class Strings {
    private Strings() {}

    static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    /** str.strip/lstrip/rstrip: whitespace when {@code chars} is null, else any of its characters. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0, end = s.length();
        while (left && start < end && strippable(s.codePointAt(start), chars)) start += Character.charCount(s.codePointAt(start));
        while (right && end > start && strippable(s.codePointBefore(end), chars)) end -= Character.charCount(s.codePointBefore(end));
        return s.substring(start, end);
    }

    private static boolean strippable(int c, String chars) {
        return chars == null ? Values.isSpace(c) : chars.codePoints().anyMatch(x -> x == c);
    }

    static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }

    /** str.capitalize: the first character in title case, the rest lower case. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        return Character.toString(Character.toTitleCase(first)) + lower(s.substring(Character.charCount(first)));
    }

    /** str.title: a cased character after an uncased one starts a word ("they're" becomes "They'Re"). */
    static String title(String s) {
        StringBuilder sb = new StringBuilder();
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            String part = Character.toString(c);
            sb.append(previousCased ? lower(part) : Character.toString(Character.toTitleCase(c)));
            previousCased = Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
        }
        return sb.toString();
    }

    static String swapcase(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints().forEach(c -> sb.append(Character.isUpperCase(c) ? lower(Character.toString(c))
                : Character.isLowerCase(c) ? upper(Character.toString(c)) : Character.toString(c)));
        return sb.toString();
    }

    /** str.split(sep, maxsplit): on runs of whitespace when {@code sep} is null. */
    static List<Object> split(String s, String sep, long maxsplit) {
        List<Object> parts = new ArrayList<>();
        if (sep != null) {
            if (sep.isEmpty()) throw new TemplateError("empty separator");
            int from = 0, at;
            while ((maxsplit < 0 || parts.size() < maxsplit) && (at = s.indexOf(sep, from)) >= 0) {
                parts.add(s.substring(from, at));
                from = at + sep.length();
            }
            parts.add(s.substring(from));
            return parts;
        }
        int i = Values.skipSpace(s, 0);
        while (i < s.length()) {
            if (maxsplit >= 0 && parts.size() == maxsplit) {
                parts.add(strip(s.substring(i), null, false, true));
                break;
            }
            int end = i;
            while (end < s.length() && !Values.isSpace(s.codePointAt(end))) end += Character.charCount(s.codePointAt(end));
            parts.add(s.substring(i, end));
            i = Values.skipSpace(s, end);
        }
        return parts;
    }

    /** str.rsplit(sep, maxsplit): splits from the right. */
    static List<Object> rsplit(String s, String sep, long maxsplit) {
        if (maxsplit < 0) return split(s, sep, -1);
        String reversed = new StringBuilder(s).reverse().toString();
        List<Object> parts = split(reversed, sep == null ? null : new StringBuilder(sep).reverse().toString(), maxsplit);
        List<Object> r = new ArrayList<>();
        for (int i = parts.size() - 1; i >= 0; i--) r.add(new StringBuilder((String) parts.get(i)).reverse().toString());
        return r;
    }

    /** str.splitlines: on \n, \r, \r\n and the other line boundaries Python knows. */
    static List<Object> splitlines(String s, boolean keepends) {
        List<Object> lines = new ArrayList<>();
        int start = 0, i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if ("\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029".indexOf(c) < 0) {
                i++;
                continue;
            }
            int end = c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? i + 2 : i + 1;
            lines.add(s.substring(start, keepends ? end : i));
            start = i = end;
        }
        if (start < s.length()) lines.add(s.substring(start));
        return lines;
    }

    /** str.replace(old, new, count); an empty {@code old} inserts {@code replacement} between characters. */
    static String replace(String s, String old, String replacement, long count) {
        long limit = count < 0 ? Long.MAX_VALUE : count;
        StringBuilder sb = new StringBuilder();
        if (old.isEmpty()) {
            long done = 0;
            for (int i = 0; i <= s.length(); ) {
                if (done++ < limit) sb.append(replacement);
                if (i == s.length()) break;
                int c = s.codePointAt(i);
                sb.appendCodePoint(c);
                i += Character.charCount(c);
            }
            return sb.toString();
        }
        int from = 0, at;
        long done = 0;
        while (done < limit && (at = s.indexOf(old, from)) >= 0) {
            sb.append(s, from, at).append(replacement);
            from = at + old.length();
            done++;
        }
        return sb.append(s.substring(from)).toString();
    }

    /** str.find / str.rfind as a code point index, -1 when absent. */
    static long find(String s, String sub, boolean fromRight) {
        int at = fromRight ? s.lastIndexOf(sub) : s.indexOf(sub);
        return at < 0 ? -1 : s.codePointCount(0, at);
    }

    /** str.count: non-overlapping occurrences. */
    static long count(String s, String sub) {
        if (sub.isEmpty()) return length(s) + 1;
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
        return n;
    }

    /** str.center / ljust / rjust with a one-character fill. */
    static String pad(String s, long width, String fill, String how) {
        long missing = width - length(s);
        if (missing <= 0) return s;
        long left = switch (how) {
            case "left" -> 0;
            case "right" -> missing;
            default -> missing / 2 + (missing & width & 1); // Python's center puts the odd space on the left when width is odd
        };
        return fill.repeat((int) left) + s + fill.repeat((int) (missing - left));
    }

    /** Whether every character passes and there is one at least, as Python's isalpha, isdigit... */
    static boolean all(String s, java.util.function.IntPredicate test) {
        return !s.isEmpty() && s.codePoints().allMatch(test);
    }
}
