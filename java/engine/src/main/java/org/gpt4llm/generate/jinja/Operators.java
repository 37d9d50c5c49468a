package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** What Jinja's operators do to values: attribute and item lookup, slicing, arithmetic, comparison, iteration. */
final class Operators {
    private Operators() {}

    /** {@code obj.name} as Jinja's sandbox looks it up: the attribute (a method, a loop field) first, then the item. */
    static Object attribute(Object obj, String name) {
        return switch (obj) {
            case Undefined u -> throw u.failure();
            case Loop loop -> loop.attribute(name);
            case Namespace ns -> ns.get(name);
            case null, default -> {
                TemplateFunction method = Methods.bind(obj, name);
                if (method != null) yield method;
                if (obj instanceof Map<?, ?> m && m.containsKey(name)) yield m.get(name);
                yield Undefined.attribute(obj, name);
            }
        };
    }

    /** {@code obj[key]}: the item first, then (for a string key) the attribute. */
    static Object item(Object obj, Object key) {
        if (obj instanceof Undefined u) throw u.failure();
        if (obj instanceof Map<?, ?> m) {
            if (m.containsKey(key)) return m.get(key);
            if (Values.isNumber(key)) {
                for (Map.Entry<?, ?> e : m.entrySet()) if (Values.equal(e.getKey(), key)) return e.getValue();
            }
        } else if (Values.isInt(key) && (obj instanceof List || obj instanceof Tuple || obj instanceof String)) {
            List<?> items = sequence(obj);
            long i = Values.toLong(key);
            if (i < 0) i += items.size();
            return i >= 0 && i < items.size() ? items.get((int) i) : Undefined.attribute(obj, key);
        }
        return key instanceof String name ? attribute(obj, name) : Undefined.attribute(obj, key);
    }

    /** {@code obj[start:stop:step]} with Python's bounds. */
    static Object slice(Object obj, Object start, Object stop, Object step) {
        if (obj instanceof Undefined u) throw u.failure();
        if (!(obj instanceof List || obj instanceof Tuple || obj instanceof String)) {
            return Undefined.because(Values.repr(Values.typeName(obj) + " object") + " cannot be sliced");
        }
        for (Object bound : new Object[] {start, stop, step}) {
            if (bound != null && !Values.isInt(bound)) {
                throw new TemplateError("slice indices must be integers or None, not " + Values.typeName(bound));
            }
        }
        List<?> items = sequence(obj);
        int n = items.size();
        long by = step == null ? 1 : Values.toLong(step);
        if (by == 0) throw new TemplateError("slice step cannot be zero");
        long from = bound(start, by > 0 ? 0 : n - 1, n, by);
        long to = bound(stop, by > 0 ? n : -1, n, by);
        List<Object> picked = new ArrayList<>();
        for (long i = from; by > 0 ? i < to : i > to; i += by) picked.add(items.get((int) i));
        if (obj instanceof Tuple) return new Tuple(picked);
        if (obj instanceof String) {
            StringBuilder sb = new StringBuilder();
            for (Object c : picked) sb.append((String) c);
            return sb.toString();
        }
        return picked;
    }

    private static long bound(Object v, long fallback, int n, long step) {
        if (v == null) return fallback;
        long i = Values.toLong(v);
        if (i < 0) return Math.max(i + n, step > 0 ? 0 : -1);
        return Math.min(i, step > 0 ? n : n - 1);
    }

    /** A list, tuple or string as the list of its items (a string's items are its characters). */
    static List<?> sequence(Object obj) {
        return switch (obj) {
            case List<?> l -> l;
            case Tuple t -> t.items();
            case String s -> Values.characters(s);
            default -> throw new IllegalStateException(String.valueOf(obj));
        };
    }

    /** What a {@code {% for %}} visits, as a new list: a list's items, a dict's keys, a string's characters, nothing for undefined. */
    static List<Object> iterate(Object obj) {
        return switch (obj) {
            case Undefined u -> new ArrayList<>();
            case List<?> l -> new ArrayList<>(l);
            case Tuple t -> new ArrayList<>(t.items());
            case Map<?, ?> m -> new ArrayList<>(m.keySet());
            case String s -> Values.characters(s);
            case null, default -> throw new TemplateError("'" + Values.typeName(obj) + "' object is not iterable");
        };
    }

    static Object call(Object function, Arguments args) {
        if (function instanceof TemplateFunction f) return f.call(args);
        if (function instanceof Undefined u) throw u.failure();
        throw new TemplateError("'" + Values.typeName(function) + "' object is not callable");
    }

    static boolean compare(String op, Object a, Object b) {
        return switch (op) {
            case "==" -> Values.equal(a, b);
            case "!=" -> !Values.equal(a, b);
            case "<" -> Values.compare(a, b, op) < 0;
            case "<=" -> Values.compare(a, b, op) <= 0;
            case ">" -> Values.compare(a, b, op) > 0;
            case ">=" -> Values.compare(a, b, op) >= 0;
            case "in" -> contains(b, a);
            case "not in" -> !contains(b, a);
            default -> throw new IllegalStateException(op);
        };
    }

    /** Python's {@code item in container}. */
    static boolean contains(Object container, Object item) {
        return switch (container) {
            case String s -> {
                if (!(item instanceof String part)) {
                    throw new TemplateError("'in <string>' requires string as left operand, not " + Values.typeName(item));
                }
                yield s.contains(part);
            }
            case List<?> l -> l.stream().anyMatch(x -> Values.equal(x, item));
            case Tuple t -> t.items().stream().anyMatch(x -> Values.equal(x, item));
            case Map<?, ?> m -> m.containsKey(item) || m.keySet().stream().anyMatch(k -> Values.equal(k, item));
            case Undefined u -> false;
            case null, default -> throw new TemplateError("argument of type '" + Values.typeName(container) + "' is not iterable");
        };
    }

    static Object unary(String op, Object v) {
        if (v instanceof Undefined u) throw u.failure();
        if (v instanceof Double d) return op.equals("-") ? -d : d;
        if (Values.isInt(v)) return op.equals("-") ? Math.negateExact(Values.toLong(v)) : Values.toLong(v);
        throw new TemplateError("bad operand type for unary " + op + ": '" + Values.typeName(v) + "'");
    }

    static Object binary(String op, Object a, Object b) {
        if (a instanceof Undefined u) throw u.failure();
        if (b instanceof Undefined u) throw u.failure();
        boolean numbers = Values.isNumber(a) && Values.isNumber(b), ints = Values.isInt(a) && Values.isInt(b);
        try {
            switch (op) {
                case "+" -> {
                    if (ints) return Math.addExact(Values.toLong(a), Values.toLong(b));
                    if (numbers) return Values.toDouble(a) + Values.toDouble(b);
                    if (a instanceof String x && b instanceof String y) return x + y;
                    if (a instanceof List<?> x && b instanceof List<?> y) return joined(x, y);
                    if (a instanceof Tuple x && b instanceof Tuple y) return new Tuple(joined(x.items(), y.items()));
                    if (a instanceof String || a instanceof List || a instanceof Tuple) {
                        throw new TemplateError("can only concatenate " + Values.typeName(a) + " (not \"" + Values.typeName(b)
                                + "\") to " + Values.typeName(a));
                    }
                }
                case "-" -> {
                    if (ints) return Math.subtractExact(Values.toLong(a), Values.toLong(b));
                    if (numbers) return Values.toDouble(a) - Values.toDouble(b);
                }
                case "*" -> {
                    if (ints) return Math.multiplyExact(Values.toLong(a), Values.toLong(b));
                    if (numbers) return Values.toDouble(a) * Values.toDouble(b);
                    if (Values.isInt(b) && !Values.isNumber(a)) return repeat(a, Values.toLong(b));
                    if (Values.isInt(a) && !Values.isNumber(b)) return repeat(b, Values.toLong(a));
                }
                case "/" -> {
                    if (numbers) {
                        if (Values.toDouble(b) == 0) throw new TemplateError("division by zero");
                        return Values.toDouble(a) / Values.toDouble(b);
                    }
                }
                case "//", "%" -> {
                    if (a instanceof String) {
                        throw new TemplateError("unsupported Jinja construct: printf-style formatting of strings with '%'");
                    }
                    if (numbers) return divide(op, a, b, ints);
                }
                case "**" -> {
                    if (ints && Values.toLong(b) >= 0) return power(Values.toLong(a), Values.toLong(b));
                    if (numbers) return Math.pow(Values.toDouble(a), Values.toDouble(b));
                }
                default -> throw new IllegalStateException(op);
            }
        } catch (ArithmeticException overflow) {
            throw new TemplateError("the integer result of " + op + " is too large");
        }
        throw new TemplateError("unsupported operand type(s) for " + op + ": '" + Values.typeName(a) + "' and '"
                + Values.typeName(b) + "'");
    }

    private static Object divide(String op, Object a, Object b, boolean ints) {
        if (Values.toDouble(b) == 0) {
            throw new TemplateError(ints ? "integer division or modulo by zero" : "float division or modulo by zero");
        }
        if (ints) {
            long x = Values.toLong(a), y = Values.toLong(b);
            return op.equals("//") ? Math.floorDiv(x, y) : Math.floorMod(x, y);
        }
        double x = Values.toDouble(a), y = Values.toDouble(b);
        double floor = Math.floor(x / y);
        if (op.equals("//")) return floor;
        double mod = x % y;
        return mod != 0 && (mod < 0) != (y < 0) ? mod + y : mod;
    }

    private static long power(long base, long exponent) {
        long result = 1;
        for (long b = base, e = exponent; e > 0; e >>= 1) {
            if ((e & 1) == 1) result = Math.multiplyExact(result, b);
            if (e > 1) b = Math.multiplyExact(b, b);
        }
        return result;
    }

    private static List<Object> joined(List<?> x, List<?> y) {
        List<Object> r = new ArrayList<>(x);
        r.addAll(y);
        return r;
    }

    private static Object repeat(Object seq, long times) {
        if (seq instanceof String s) return s.repeat((int) Math.max(0, times));
        if (!(seq instanceof List || seq instanceof Tuple)) {
            throw new TemplateError("can't multiply sequence by non-int of type '" + Values.typeName(seq) + "'");
        }
        List<?> items = sequence(seq);
        List<Object> r = new ArrayList<>();
        for (long i = 0; i < times; i++) r.addAll(items);
        return seq instanceof Tuple ? new Tuple(r) : r;
    }
}
