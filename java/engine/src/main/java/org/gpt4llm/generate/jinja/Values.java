package org.gpt4llm.generate.jinja;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Template values as Python sees them. At run time a value is one of: {@code null} (None), Boolean, Long (int),
 * Double (float), String, List (list), {@link Tuple}, Map (dict, insertion ordered), {@link Undefined},
 * {@link Namespace}, {@link Loop} or a {@link TemplateFunction}.
 */
final class Values {
    private Values() {}

    /** A caller's Java value (Integer, Float, arrays, any List or Map...) as a template value. */
    static Object fromJava(Object v) {
        return switch (v) {
            case null -> null;
            case String s -> s;
            case Boolean b -> b;
            case Long l -> l;
            case Double d -> d;
            case Integer i -> i.longValue();
            case Short s -> s.longValue();
            case Byte b -> b.longValue();
            case Float f -> f.doubleValue();
            case BigInteger b -> b.bitLength() < 64 ? (Object) b.longValue() : b.doubleValue();
            case BigDecimal b -> b.doubleValue();
            case Character c -> c.toString();
            case Tuple t -> t;
            case Map<?, ?> m -> {
                Map<Object, Object> copy = new LinkedHashMap<>();
                m.forEach((k, x) -> copy.put(fromJava(k), fromJava(x)));
                yield copy;
            }
            case Collection<?> c -> {
                List<Object> copy = new ArrayList<>(c.size());
                for (Object x : c) copy.add(fromJava(x));
                yield copy;
            }
            case Object[] a -> fromJava(java.util.Arrays.asList(a));
            case Undefined u -> u;
            case Namespace n -> n;
            case TemplateFunction f -> f;
            default -> throw new TemplateError("a " + v.getClass().getSimpleName()
                    + " cannot be given to a template (use strings, numbers, booleans, null, lists and maps)");
        };
    }

    static boolean truthy(Object v) {
        return switch (v) {
            case null -> false;
            case Undefined u -> false;
            case Boolean b -> b;
            case Long l -> l != 0;
            case Double d -> d != 0;
            case String s -> !s.isEmpty();
            case List<?> l -> !l.isEmpty();
            case Tuple t -> !t.items().isEmpty();
            case Map<?, ?> m -> !m.isEmpty();
            default -> true;
        };
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    /** Python's int-like values: int and bool. */
    static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static long toLong(Object v) {
        if (v instanceof Boolean b) return b ? 1 : 0;
        return ((Number) v).longValue();
    }

    static double toDouble(Object v) {
        if (v instanceof Boolean b) return b ? 1 : 0;
        return ((Number) v).doubleValue();
    }

    /** Python's name of the value's type, as its error messages use it. */
    static String typeName(Object v) {
        return switch (v) {
            case null -> "NoneType";
            case Boolean b -> "bool";
            case Long l -> "int";
            case Double d -> "float";
            case String s -> "str";
            case List<?> l -> "list";
            case Tuple t -> "tuple";
            case Map<?, ?> m -> "dict";
            case Undefined u -> "Undefined";
            case Namespace n -> "Namespace";
            case Loop l -> "LoopContext";
            default -> "function";
        };
    }

    /** Python's {@code str(v)}, which is what {@code {{ v }}} prints. */
    static String str(Object v) {
        return switch (v) {
            case null -> "None";
            case Undefined u -> "";
            case String s -> s;
            default -> repr(v);
        };
    }

    /** Python's {@code repr(v)}. */
    static String repr(Object v) {
        return switch (v) {
            case null -> "None";
            case Boolean b -> b ? "True" : "False";
            case Long l -> l.toString();
            case Double d -> floatRepr(d);
            case String s -> stringRepr(s);
            case List<?> l -> join("[", l, "]");
            case Tuple t -> t.items().size() == 1 ? "(" + repr(t.items().get(0)) + ",)" : join("(", t.items(), ")");
            case Map<?, ?> m -> {
                StringBuilder sb = new StringBuilder("{");
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (sb.length() > 1) sb.append(", ");
                    sb.append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
                }
                yield sb.append('}').toString();
            }
            case Undefined u -> "Undefined";
            case Namespace n -> "<Namespace " + repr(n.attributes()) + ">";
            case Loop l -> "<LoopContext " + l.index() + "/" + l.length() + ">";
            default -> "<function>";
        };
    }

    private static String join(String open, List<?> items, String close) {
        StringBuilder sb = new StringBuilder(open);
        for (int i = 0; i < items.size(); i++) sb.append(i == 0 ? "" : ", ").append(repr(items.get(i)));
        return sb.append(close).toString();
    }

    /** Python's float repr: the shortest digits that read back, positional from 1e-4 up to 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        BigDecimal exact = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = exact.unscaledValue().toString();
        int exponent = digits.length() - 1 - exact.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = exact.toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }

    private static String stringRepr(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder sb = new StringBuilder().append(quote);
        s.codePoints().forEach(c -> {
            if (c == quote || c == '\\') sb.append('\\').appendCodePoint(c);
            else if (c == '\n') sb.append("\\n");
            else if (c == '\r') sb.append("\\r");
            else if (c == '\t') sb.append("\\t");
            else if (printable(c)) sb.appendCodePoint(c);
            else if (c <= 0xff) sb.append(String.format("\\x%02x", c));
            else if (c <= 0xffff) sb.append(String.format("\\u%04x", c));
            else sb.append(String.format("\\U%08x", c));
        });
        return sb.append(quote).toString();
    }

    /** Python's str.isprintable for one character: not a control, format, private, unassigned or separator. */
    private static boolean printable(int c) {
        if (c == ' ') return true;
        return switch (Character.getType(c)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** Python's str.isspace for one character. */
    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
    }

    /** {@code s} without trailing whitespace, as Python's str.rstrip(). */
    static String rstrip(String s) {
        int end = s.length();
        while (end > 0) {
            int c = s.codePointBefore(end);
            if (!isSpace(c)) break;
            end -= Character.charCount(c);
        }
        return s.substring(0, end);
    }

    /** The index after the whitespace that starts at {@code from}. */
    static int skipSpace(String s, int from) {
        int i = from;
        while (i < s.length() && isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
        return i;
    }

    /** Python's == : numbers by value (True == 1), containers element by element, a tuple never equals a list. */
    static boolean equal(Object a, Object b) {
        if (isNumber(a) && isNumber(b)) {
            return isInt(a) && isInt(b) ? toLong(a) == toLong(b) : toDouble(a) == toDouble(b);
        }
        if (a instanceof List<?> x && b instanceof List<?> y) return equalItems(x, y);
        if (a instanceof Tuple x && b instanceof Tuple y) return equalItems(x.items(), y.items());
        if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
            if (x.size() != y.size()) return false;
            for (Map.Entry<?, ?> e : x.entrySet()) {
                if (!y.containsKey(e.getKey()) || !equal(e.getValue(), y.get(e.getKey()))) return false;
            }
            return true;
        }
        if (a instanceof Undefined && b instanceof Undefined) return true;
        return a == null ? b == null : a.equals(b);
    }

    private static boolean equalItems(List<?> x, List<?> y) {
        if (x.size() != y.size()) return false;
        Iterator<?> i = x.iterator(), j = y.iterator();
        while (i.hasNext()) if (!equal(i.next(), j.next())) return false;
        return true;
    }

    /** Python's ordering (<, >): numbers, strings by code point, lists and tuples item by item. */
    static int compare(Object a, Object b, String op) {
        if (a instanceof Undefined u) throw u.failure();
        if (b instanceof Undefined u) throw u.failure();
        if (isNumber(a) && isNumber(b)) {
            return isInt(a) && isInt(b) ? Long.compare(toLong(a), toLong(b)) : Double.compare(toDouble(a), toDouble(b));
        }
        if (a instanceof String x && b instanceof String y) return compareCodePoints(x, y);
        if (a instanceof List<?> x && b instanceof List<?> y) return compareItems(x, y, op);
        if (a instanceof Tuple x && b instanceof Tuple y) return compareItems(x.items(), y.items(), op);
        throw new TemplateError("'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    private static int compareItems(List<?> x, List<?> y, String op) {
        for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
            if (!equal(x.get(i), y.get(i))) return compare(x.get(i), y.get(i), op);
        }
        return Integer.compare(x.size(), y.size());
    }

    static int compareCodePoints(String x, String y) {
        int i = 0, j = 0;
        while (i < x.length() && j < y.length()) {
            int a = x.codePointAt(i), b = y.codePointAt(j);
            if (a != b) return Integer.compare(a, b);
            i += Character.charCount(a);
            j += Character.charCount(b);
        }
        return Boolean.compare(i < x.length(), j < y.length());
    }

    /** The characters of a string, one string per code point, as Python iterates it. */
    static List<Object> characters(String s) {
        List<Object> r = new ArrayList<>();
        s.codePoints().forEach(c -> r.add(Character.toString(c)));
        return r;
    }
}
