package org.gpt4llm.generate.jinja;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.generate.jinja.Token.Kind;

/**
 * Cuts a template into tokens as Jinja2's lexer does with transformers' settings: newlines read as \n and one
 * trailing newline dropped; {@code -} on a tag strips the whitespace beside it, {@code +} keeps it; trim_blocks
 * drops the newline after a block or comment tag, lstrip_blocks the blanks between a line's start and a block or
 * comment tag. Inside a tag, {@code }}} or {@code %}} ends it only when brackets are balanced.
 */
final class Lexer {
    private static final List<String> OPERATORS = List.of("**", "//", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%",
            "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";");
    private static final Pattern RAW_BEGIN = Pattern.compile("\\{%[-+]?\\s*raw\\s*(?:-%}\\s*|%})",
            Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*(?:\\+%}|-%}\\s*|%}\\n?)",
            Pattern.UNICODE_CHARACTER_CLASS);

    private final String src;
    private final int[] lineStarts;
    private final List<Token> tokens = new ArrayList<>();
    private int pos;
    /** Whether the last tag's end ended a line (Jinja's line_starting, which lstrip_blocks needs). */
    private boolean lineStarting = true;

    private Lexer(String source) {
        src = normalise(source);
        List<Integer> starts = new ArrayList<>(List.of(0));
        for (int i = 0; i < src.length(); i++) if (src.charAt(i) == '\n') starts.add(i + 1);
        lineStarts = starts.stream().mapToInt(Integer::intValue).toArray();
    }

    static List<Token> tokenize(String source) {
        Lexer lexer = new Lexer(source);
        lexer.run();
        return lexer.tokens;
    }

    /** Newlines as \n and one trailing newline dropped, as Jinja reads a template (keep_trailing_newline off). */
    static String normalise(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    private int lineAt(int index) {
        int i = java.util.Arrays.binarySearch(lineStarts, index);
        return (i >= 0 ? i : -i - 2) + 1;
    }

    private TemplateError error(int index, String message) {
        return new TemplateError(message).atLine(lineAt(index));
    }

    private void run() {
        while (pos < src.length()) {
            int open = tagStart(pos);
            if (open < 0) {
                data(src.substring(pos), pos);
                pos = src.length();
                break;
            }
            char kind = src.charAt(open + 1);
            Matcher raw = kind == '%' ? RAW_BEGIN.matcher(src).region(open, src.length()) : null;
            boolean isRaw = raw != null && raw.lookingAt();
            char sign = open + 2 < src.length() && "-+".indexOf(src.charAt(open + 2)) >= 0 ? src.charAt(open + 2) : 0;
            data(stripBefore(src.substring(pos, open), sign, kind != '{'), pos);
            if (isRaw) {
                lineStarting = src.charAt(raw.end() - 1) == '\n';
                raw(raw.end(), open);
            } else if (kind == '#') {
                comment(open + 2 + (sign != 0 ? 1 : 0), open);
            } else {
                tag(kind, open, open + 2 + (sign != 0 ? 1 : 0));
            }
        }
        tokens.add(new Token(Kind.END, "", null, lineAt(src.length())));
    }

    /** The next {{, {% or {#, or -1. */
    private int tagStart(int from) {
        for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /** The text before a tag, whitespace control applied. */
    private String stripBefore(String text, char sign, boolean blockOrComment) {
        if (sign == '-') return Values.rstrip(text);
        if (sign == '+' || !blockOrComment) return text;
        int lineStart = text.lastIndexOf('\n') + 1;
        if ((lineStart > 0 || lineStarting) && lineStart < text.length()
                && Values.skipSpace(text, lineStart) == text.length()) {
            return text.substring(0, lineStart);
        }
        return text;
    }

    private void data(String text, int at) {
        if (!text.isEmpty()) tokens.add(new Token(Kind.DATA, text, text, lineAt(at)));
    }

    /** Where the text after a tag starts: {@code -} skips whitespace, trim_blocks one newline after %} and #}. */
    private int afterEnd(int end, char sign, boolean trimNewline) {
        int next = end;
        if (sign == '-') next = Values.skipSpace(src, end);
        else if (sign != '+' && trimNewline && next < src.length() && src.charAt(next) == '\n') next++;
        lineStarting = next > 0 && src.charAt(next - 1) == '\n' && next > end;
        return next;
    }

    private void comment(int body, int open) {
        int close = src.indexOf("#}", body);
        if (close < 0) throw error(open, "the comment is never closed: '#}' is missing");
        char sign = close > body && "-+".indexOf(src.charAt(close - 1)) >= 0 ? src.charAt(close - 1) : 0;
        pos = afterEnd(close + 2, sign, true);
    }

    private void raw(int body, int open) {
        Matcher end = RAW_END.matcher(src).region(body, src.length());
        if (!end.find()) throw error(open, "{% raw %} has no {% endraw %}");
        char sign = end.group(1).isEmpty() ? 0 : end.group(1).charAt(0);
        data(stripBefore(src.substring(body, end.start()), sign, true), body);
        lineStarting = src.charAt(end.end() - 1) == '\n';
        pos = end.end();
    }

    /** A {{ }} or {% %} tag: its delimiters and the tokens between them. */
    private void tag(char kind, int open, int from) {
        boolean block = kind == '%';
        tokens.add(new Token(block ? Kind.BLOCK_BEGIN : Kind.VARIABLE_BEGIN, src.substring(open, from), null, lineAt(open)));
        Deque<String> brackets = new ArrayDeque<>();
        int p = from;
        while (true) {
            if (p >= src.length()) {
                throw error(open, "'" + src.substring(open, open + 2) + "' is never closed: '" + (block ? "%}" : "}}")
                        + "' is missing");
            }
            if (brackets.isEmpty()) {
                String close = block ? "%}" : "}}";
                char sign = src.startsWith(close, p + 1) && "-+".indexOf(src.charAt(p)) >= 0 ? src.charAt(p) : 0;
                if ((sign == '-' || (sign == '+' && block)) || src.startsWith(close, p)) {
                    int end = p + close.length() + (sign != 0 ? 1 : 0);
                    tokens.add(new Token(block ? Kind.BLOCK_END : Kind.VARIABLE_END, src.substring(p, end), null, lineAt(p)));
                    pos = afterEnd(end, sign, block);
                    return;
                }
            }
            int c = src.codePointAt(p);
            if (Values.isSpace(c)) {
                p = Values.skipSpace(src, p);
            } else if (Character.isDigit(c)) {
                p = number(p);
            } else if (Character.isUnicodeIdentifierStart(c) || c == '_') {
                int q = p + Character.charCount(c);
                while (q < src.length() && Character.isUnicodeIdentifierPart(src.codePointAt(q))) q += Character.charCount(src.codePointAt(q));
                tokens.add(new Token(Kind.NAME, src.substring(p, q), src.substring(p, q), lineAt(p)));
                p = q;
            } else if (c == '\'' || c == '"') {
                p = string(p);
            } else {
                p = operator(p, brackets);
            }
        }
    }

    private int operator(int p, Deque<String> brackets) {
        for (String op : OPERATORS) {
            if (!src.startsWith(op, p)) continue;
            switch (op) {
                case "(" -> brackets.push(")");
                case "[" -> brackets.push("]");
                case "{" -> brackets.push("}");
                case ")", "]", "}" -> {
                    if (brackets.isEmpty()) throw error(p, "unexpected '" + op + "'");
                    String expected = brackets.pop();
                    if (!expected.equals(op)) throw error(p, "unexpected '" + op + "', expected '" + expected + "'");
                }
                default -> { }
            }
            tokens.add(new Token(Kind.OPERATOR, op, op, lineAt(p)));
            return p + op.length();
        }
        throw error(p, "unexpected character " + Values.repr(Character.toString(src.codePointAt(p))));
    }

    /** Digits with single underscores between them; the index after, or -1 when none start at {@code p}. */
    private int digits(int p, int radix) {
        int q = p;
        while (q < src.length() && Character.digit(src.charAt(q), radix) >= 0) {
            q++;
            if (q + 1 < src.length() && src.charAt(q) == '_' && Character.digit(src.charAt(q + 1), radix) >= 0) q++;
        }
        return q > p ? q : -1;
    }

    private int number(int p) {
        int intEnd = digits(p, 10);
        int end = -1;
        if (p == 0 || src.charAt(p - 1) != '.') { // a float as Jinja reads one: 1.5, 1e3, 1.5e-3
            int q = intEnd;
            if (q + 1 < src.length() && src.charAt(q) == '.' && Character.isDigit(src.charAt(q + 1))) q = digits(q + 1, 10);
            int e = exponent(q);
            if (e > 0) end = e;
            else if (q > intEnd) end = q;
        }
        if (end > 0) {
            String text = src.substring(p, end);
            tokens.add(new Token(Kind.FLOAT, text, Double.parseDouble(text.replace("_", "")), lineAt(p)));
            return end;
        }
        int radix = 10;
        int start = p;
        if (src.charAt(p) == '0' && p + 1 < src.length()) {
            char base = Character.toLowerCase(src.charAt(p + 1));
            radix = base == 'b' ? 2 : base == 'o' ? 8 : base == 'x' ? 16 : 10;
            if (radix != 10) {
                start = p + 2 + (p + 2 < src.length() && src.charAt(p + 2) == '_' ? 1 : 0);
                end = digits(start, radix);
                if (end < 0) throw error(p, "invalid number " + src.substring(p, p + 2));
            } else {
                end = p + 1; // 0, 00, 0_0 ...
                while (end < src.length()) {
                    if (src.charAt(end) == '0') end++;
                    else if (src.charAt(end) == '_' && end + 1 < src.length() && src.charAt(end + 1) == '0') end += 2;
                    else break;
                }
            }
        } else {
            end = intEnd;
        }
        String text = src.substring(p, end);
        long value;
        try {
            value = Long.parseLong(src.substring(start, end).replace("_", ""), radix);
        } catch (NumberFormatException e) {
            throw error(p, "the number " + text + " is too large");
        }
        tokens.add(new Token(Kind.INTEGER, text, value, lineAt(p)));
        return end;
    }

    /** The end of an exponent (e5, E-3) at {@code q}, or -1. */
    private int exponent(int q) {
        if (q >= src.length() || Character.toLowerCase(src.charAt(q)) != 'e') return -1;
        int d = q + 1 + (q + 1 < src.length() && "+-".indexOf(src.charAt(q + 1)) >= 0 ? 1 : 0);
        return d < src.length() && Character.isDigit(src.charAt(d)) ? digits(d, 10) : -1;
    }

    /** A quoted string, its escapes read as Python's unicode-escape codec reads them. */
    private int string(int p) {
        char quote = src.charAt(p);
        StringBuilder sb = new StringBuilder();
        int i = p + 1;
        while (true) {
            if (i >= src.length()) throw error(p, "the string that starts here is never closed");
            char c = src.charAt(i);
            if (c == quote) break;
            if (c != '\\' || i + 1 >= src.length()) {
                sb.append(c);
                i++;
                continue;
            }
            i = escape(i + 1, sb);
        }
        tokens.add(new Token(Kind.STRING, src.substring(p, i + 1), sb.toString(), lineAt(p)));
        return i + 1;
    }

    /** Reads the escape whose letter is at {@code i} into {@code sb}; the index after it. */
    private int escape(int i, StringBuilder sb) {
        char e = src.charAt(i);
        switch (e) {
            case '\n' -> { return i + 1; }
            case 'n' -> sb.append('\n');
            case 't' -> sb.append('\t');
            case 'r' -> sb.append('\r');
            case 'a' -> sb.append('\u0007');
            case 'b' -> sb.append('\b');
            case 'f' -> sb.append('\f');
            case 'v' -> sb.append('\u000b');
            case '\\', '\'', '"' -> sb.append(e);
            case 'x', 'u', 'U' -> {
                int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                boolean complete = i + n < src.length();
                for (int k = i + 1; complete && k <= i + n; k++) complete = Character.digit(src.charAt(k), 16) >= 0;
                if (!complete) throw error(i, "truncated \\" + e + " escape");
                int code = (int) Long.parseLong(src.substring(i + 1, i + 1 + n), 16);
                if (!Character.isValidCodePoint(code)) throw error(i, "illegal Unicode character in \\" + e + " escape");
                sb.appendCodePoint(code);
                return i + 1 + n;
            }
            case 'N' -> {
                int close = src.indexOf('}', i);
                if (i + 1 >= src.length() || src.charAt(i + 1) != '{' || close < 0) throw error(i, "malformed \\N character escape");
                try {
                    sb.appendCodePoint(Character.codePointOf(src.substring(i + 2, close)));
                } catch (IllegalArgumentException bad) {
                    throw error(i, "unknown Unicode character name " + src.substring(i + 2, close));
                }
                return close + 1;
            }
            default -> {
                if (e >= '0' && e <= '7') {
                    int end = i;
                    while (end < src.length() && end < i + 3 && src.charAt(end) >= '0' && src.charAt(end) <= '7') end++;
                    sb.append((char) Integer.parseInt(src.substring(i, end), 8));
                    return end;
                }
                sb.append('\\').append(e); // Python keeps an unknown escape as it is
            }
        }
        return i + 1;
    }
}
