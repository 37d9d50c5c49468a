package org.gpt4llm.generate.jinja;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/** Jinja's built-in filters ({@code x | name(args)}), with transformers' {@code tojson}. */
final class Filters {
    private Filters() {}

    static final Set<String> SUPPORTED = Set.of("abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort",
            "e", "escape", "first", "float", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max",
            "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string",
            "sum", "title", "tojson", "trim", "unique", "upper", "wordcount");
    /** Jinja's other filters: named as unsupported, where an unknown name is named as unknown. */
    private static final Set<String> OTHER = Set.of("batch", "filesizeformat", "forceescape", "format", "groupby", "pprint",
            "random", "slice", "striptags", "truncate", "urlencode", "urlize", "wordwrap", "xmlattr");

    /** Null when {@code name} can be applied, else why not (checked when the template is compiled, as Jinja does). */
    static String problem(String name) {
        if (SUPPORTED.contains(name)) return null;
        return OTHER.contains(name) ? "unsupported Jinja construct: filter '" + name + "'" : "no filter named '" + name + "'";
    }

    static Object apply(String name, Object v, Arguments a) {
        return switch (name) {
            case "abs" -> {
                a.expect(0, Set.of());
                if (v instanceof Double d) yield Math.abs(d);
                if (Values.isInt(v)) yield Math.abs(Values.toLong(v));
                throw new TemplateError("bad operand type for abs(): '" + Values.typeName(v) + "'");
            }
            case "attr" -> {
                String attribute = Methods.text(a.expect(1, Set.of("name")).required(0, "name"));
                Object value = Operators.attribute(v, attribute);
                // an attribute only: a dict's items are not its attributes
                yield v instanceof Map<?, ?> && !(value instanceof TemplateFunction) ? Undefined.attribute(v, attribute) : value;
            }
            case "capitalize" -> Strings.capitalize(Values.str(v));
            case "center" -> Strings.pad(Values.str(v), Methods.integer(a.expect(1, Set.of("width")).get(0, "width", 80L), "width"),
                    " ", "center");
            case "count", "length" -> length(v);
            case "d", "default" -> {
                a.expect(2, Set.of("default_value", "boolean"));
                boolean useDefault = v instanceof Undefined || (Values.truthy(a.get(1, "boolean", false)) && !Values.truthy(v));
                yield useDefault ? a.get(0, "default_value", "") : v;
            }
            case "dictsort" -> dictsort(v, a.expect(3, Set.of("case_sensitive", "by", "reverse")));
            case "e", "escape" -> escape(Values.str(v));
            case "first" -> {
                List<Object> items = Operators.iterate(v);
                yield items.isEmpty() ? Undefined.because("No first item, sequence was empty.") : items.get(0);
            }
            case "last" -> {
                List<Object> items = Operators.iterate(v);
                yield items.isEmpty() ? Undefined.because("No last item, sequence was empty.") : items.get(items.size() - 1);
            }
            case "float" -> toFloat(v, a.expect(1, Set.of("default")).get(0, "default", 0.0));
            case "indent" -> indent(Values.str(v), a.expect(3, Set.of("width", "first", "blank")));
            case "int" -> toInt(v, a.expect(2, Set.of("default", "base")));
            case "items" -> {
                if (v instanceof Undefined) yield List.of();
                if (!(v instanceof Map<?, ?> m)) throw new TemplateError("Can only get item pairs from a mapping.");
                List<Object> pairs = new ArrayList<>();
                m.forEach((k, x) -> pairs.add(Tuple.of(k, x)));
                yield pairs;
            }
            case "join" -> {
                a.expect(2, Set.of("d", "attribute"));
                List<Object> items = mapped(Operators.iterate(v), a.get(1, "attribute", null), null);
                StringBuilder sb = new StringBuilder();
                String separator = Values.str(a.get(0, "d", ""));
                for (int i = 0; i < items.size(); i++) sb.append(i == 0 ? "" : separator).append(Values.str(items.get(i)));
                yield sb.toString();
            }
            case "list" -> Operators.iterate(v);
            case "lower" -> Strings.lower(Values.str(v));
            case "map" -> map(v, a);
            case "max", "min" -> extreme(v, a.expect(2, Set.of("case_sensitive", "attribute")), name.equals("max"));
            case "reject", "select" -> select(v, a, name.equals("select"), false);
            case "rejectattr", "selectattr" -> select(v, a, name.equals("selectattr"), true);
            case "replace" -> {
                a.expect(3, Set.of("old", "new", "count"));
                Object count = a.get(2, "count", null);
                yield Strings.replace(Values.str(v), Values.str(a.required(0, "old")), Values.str(a.required(1, "new")),
                        count == null ? -1 : Methods.integer(count, "count"));
            }
            case "reverse" -> {
                if (v instanceof String s) yield new StringBuilder(s).reverse().toString();
                List<Object> items = Operators.iterate(v);
                java.util.Collections.reverse(items);
                yield items;
            }
            case "round" -> round(v, a.expect(2, Set.of("precision", "method")));
            case "safe", "string" -> Values.str(v);
            case "sort" -> sort(v, a.expect(3, Set.of("reverse", "case_sensitive", "attribute")));
            case "sum" -> {
                a.expect(2, Set.of("attribute", "start"));
                Object total = a.get(1, "start", 0L);
                for (Object x : mapped(Operators.iterate(v), a.get(0, "attribute", null), null)) total = Operators.binary("+", total, x);
                yield total;
            }
            case "title" -> title(Values.str(v));
            case "tojson" -> tojson(v, a.expect(5, Set.of("ensure_ascii", "indent", "separators", "sort_keys")));
            case "trim" -> {
                Object chars = a.expect(1, Set.of("chars")).get(0, "chars", null);
                yield Strings.strip(Values.str(v), chars == null ? null : Values.str(chars), true, true);
            }
            case "unique" -> unique(v, a.expect(2, Set.of("case_sensitive", "attribute")));
            case "upper" -> Strings.upper(Values.str(v));
            case "wordcount" -> java.util.regex.Pattern.compile("\\w+", java.util.regex.Pattern.UNICODE_CHARACTER_CLASS)
                    .matcher(Values.str(v)).results().count();
            default -> throw new IllegalStateException(name);
        };
    }

    static long length(Object v) {
        return switch (v) {
            case Undefined u -> 0;
            case String s -> Strings.length(s);
            case List<?> l -> l.size();
            case Tuple t -> t.items().size();
            case Map<?, ?> m -> m.size();
            case null, default -> throw new TemplateError("object of type '" + Values.typeName(v) + "' has no len()");
        };
    }

    /** Jinja's title filter: words start after spaces, dashes and opening brackets ("hello-world" is "Hello-World"). */
    private static String title(String s) {
        StringBuilder sb = new StringBuilder();
        boolean start = true;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            boolean boundary = Values.isSpace(c) || "-([{<".indexOf(c) >= 0;
            String one = Character.toString(c);
            sb.append(boundary ? one : start ? Strings.upper(one) : Strings.lower(one));
            start = boundary;
        }
        return sb.toString();
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;").replace("'", "&#39;");
    }

    private static Object tojson(Object v, Arguments a) {
        boolean ascii = Values.truthy(a.get(0, "ensure_ascii", false));
        Object indent = a.get(1, "indent", null);
        String oneLevel = indent == null ? null
                : indent instanceof String s ? s : " ".repeat((int) Math.max(0, Methods.integer(indent, "indent")));
        Object separators = a.get(2, "separators", null);
        String item = oneLevel == null ? ", " : ",", key = ": ";
        if (separators != null) {
            if (!(separators instanceof List || separators instanceof Tuple) || Operators.sequence(separators).size() != 2) {
                throw new TemplateError("tojson separators must be a pair (item separator, key separator)");
            }
            item = Methods.text(Operators.sequence(separators).get(0));
            key = Methods.text(Operators.sequence(separators).get(1));
        }
        return new Json(oneLevel, item, key, Values.truthy(a.get(3, "sort_keys", false)), ascii).write(v);
    }

    private static String indent(String s, Arguments a) {
        Object width = a.get(0, "width", 4L);
        String pad = width instanceof String w ? w : " ".repeat((int) Math.max(0, Methods.integer(width, "width")));
        boolean first = Values.truthy(a.get(1, "first", false)), blank = Values.truthy(a.get(2, "blank", false));
        List<Object> lines = Strings.splitlines(s + "\n", false);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < lines.size(); i++) {
            String line = (String) lines.get(i);
            if (i > 0) sb.append('\n').append(blank || !line.isEmpty() ? pad : "");
            sb.append(line);
        }
        return first ? pad + sb : sb.toString();
    }

    private static Object toInt(Object v, Arguments a) {
        Object fallback = a.get(0, "default", 0L);
        long base = Methods.integer(a.get(1, "base", 10L), "base");
        if (Values.isInt(v)) return Values.toLong(v);
        if (v instanceof Double d) return Double.isFinite(d) ? (Object) (long) d.doubleValue() : fallback;
        if (v instanceof String s) {
            String t = Strings.strip(s, null, true, true).replace("_", "");
            try {
                return parseInt(t, (int) base);
            } catch (NumberFormatException notAnInt) {
                Object f = toFloat(v, null);
                return f instanceof Double d && Double.isFinite(d) ? (Object) (long) d.doubleValue() : fallback;
            }
        }
        return fallback;
    }

    /** Python's int(text, base): a sign, then digits, with 0x/0o/0b allowed for base 16/8/2 and picked by base 0. */
    private static long parseInt(String text, int base) {
        boolean negative = text.startsWith("-");
        String digits = negative || text.startsWith("+") ? text.substring(1) : text;
        String prefix = digits.length() > 1 && digits.charAt(0) == '0' ? Strings.lower(digits.substring(0, 2)) : "";
        int radix = base;
        if ((prefix.equals("0x") && (base == 16 || base == 0)) || (prefix.equals("0o") && (base == 8 || base == 0))
                || (prefix.equals("0b") && (base == 2 || base == 0))) {
            radix = prefix.equals("0x") ? 16 : prefix.equals("0o") ? 8 : 2;
            digits = digits.substring(2);
        } else if (base == 0) {
            radix = 10;
        }
        if (digits.isEmpty() || digits.startsWith("+") || digits.startsWith("-")) throw new NumberFormatException(text);
        long value = Long.parseLong(digits, radix);
        return negative ? -value : value;
    }

    /** Python's float(): decimal text with optional underscores, exponent, inf or nan; else the fallback. */
    private static Object toFloat(Object v, Object fallback) {
        if (Values.isNumber(v)) return Values.toDouble(v);
        if (!(v instanceof String s)) return fallback;
        String t = Strings.strip(s, null, true, true);
        String unsigned = Strings.lower(t.startsWith("+") || t.startsWith("-") ? t.substring(1) : t);
        double sign = t.startsWith("-") ? -1 : 1;
        if (unsigned.equals("inf") || unsigned.equals("infinity")) return sign * Double.POSITIVE_INFINITY;
        if (unsigned.equals("nan")) return Double.NaN;
        return FLOAT_TEXT.matcher(t).matches() ? (Object) Double.parseDouble(t.replace("_", "")) : fallback;
    }

    private static final java.util.regex.Pattern FLOAT_TEXT =
            java.util.regex.Pattern.compile("[+-]?(\\d(_?\\d)*(\\.(\\d(_?\\d)*)?)?|\\.\\d(_?\\d)*)([eE][+-]?\\d(_?\\d)*)?");

    private static Object round(Object v, Arguments a) {
        long precision = Methods.integer(a.get(0, "precision", 0L), "precision");
        String method = Values.str(a.get(1, "method", "common"));
        if (!Set.of("common", "ceil", "floor").contains(method)) throw new TemplateError("method must be common, ceil or floor");
        if (!Values.isNumber(v)) throw new TemplateError("type " + Values.typeName(v) + " doesn't define __round__ method");
        if (method.equals("common")) {
            if (Values.isInt(v)) return Values.toLong(v);
            double d = Values.toDouble(v);
            if (!Double.isFinite(d)) return d;
            return new BigDecimal(d).setScale((int) precision, RoundingMode.HALF_EVEN).doubleValue();
        }
        double scale = Math.pow(10, precision), d = Values.toDouble(v) * scale;
        return (method.equals("ceil") ? Math.ceil(d) : Math.floor(d)) / scale;
    }

    /** Jinja's attribute getter: "a.b.0" looks up a, then b, then item 0; a missing one gives {@code fallback}. */
    static Function<Object, Object> attributeGetter(Object attribute, Object fallback) {
        if (attribute == null) return x -> x;
        String[] parts = Values.str(attribute).split("\\.");
        return x -> {
            Object r = x;
            for (String part : parts) r = Operators.item(r, part.matches("\\d+") ? (Object) Long.parseLong(part) : part);
            return r instanceof Undefined && fallback != null ? fallback : r;
        };
    }

    private static List<Object> mapped(List<Object> items, Object attribute, Object fallback) {
        if (attribute == null) return items;
        Function<Object, Object> get = attributeGetter(attribute, fallback);
        List<Object> r = new ArrayList<>(items.size());
        for (Object x : items) r.add(get.apply(x));
        return r;
    }

    /** {@code map(attribute='x', default=d)} or {@code map('filter', args...)}. */
    private static Object map(Object v, Arguments a) {
        List<Object> items = Operators.iterate(v);
        if (a.positional().isEmpty() && a.keywords().containsKey("attribute")) {
            a.expect(0, Set.of("attribute", "default"));
            return mapped(items, a.keywords().get("attribute"), a.keywords().get("default"));
        }
        String filter = Methods.text(a.required(0, "filter"));
        String problem = problem(filter);
        if (problem != null) throw new TemplateError(problem);
        Arguments rest = new Arguments(filter, a.rest(1), a.keywords());
        List<Object> r = new ArrayList<>(items.size());
        for (Object x : items) r.add(apply(filter, x, rest));
        return r;
    }

    /** select/reject (by a test of each item) and selectattr/rejectattr (by a test of an attribute of each item). */
    private static Object select(Object v, Arguments a, boolean keep, boolean byAttribute) {
        int next = 0;
        Function<Object, Object> get = byAttribute ? attributeGetter(a.required(next++, "attribute"), null) : x -> x;
        String test = next < a.positional().size() ? Methods.text(a.positional().get(next)) : null;
        if (test != null && Tests.problem(test) != null) throw new TemplateError(Tests.problem(test));
        Arguments testArgs = new Arguments(test == null ? "" : test, a.rest(next + 1), a.keywords());
        List<Object> r = new ArrayList<>();
        for (Object x : Operators.iterate(v)) {
            Object value = get.apply(x);
            boolean passes = test == null ? Values.truthy(value) : Tests.apply(test, value, testArgs);
            if (passes == keep) r.add(x);
        }
        return r;
    }

    /** The key Jinja sorts and compares by: the (attribute's) value, lower-cased strings unless case sensitive. */
    private static Function<Object, Object> sortKey(Arguments a, int caseIndex, Object attribute) {
        boolean caseSensitive = Values.truthy(a.get(caseIndex, "case_sensitive", false));
        List<Function<Object, Object>> getters = new ArrayList<>();
        for (String part : attribute == null ? new String[] {null} : Values.str(attribute).split(",")) {
            getters.add(attributeGetter(part == null ? null : part.strip(), null));
        }
        return x -> {
            List<Object> keys = new ArrayList<>();
            for (Function<Object, Object> g : getters) {
                Object k = g.apply(x);
                keys.add(!caseSensitive && k instanceof String s ? Strings.lower(s) : k);
            }
            return keys.size() == 1 ? keys.get(0) : new Tuple(keys);
        };
    }

    private static Comparator<Object> byKey(Function<Object, Object> key) {
        return (x, y) -> Values.compare(key.apply(x), key.apply(y), "<");
    }

    private static Object sort(Object v, Arguments a) {
        List<Object> items = Operators.iterate(v);
        Comparator<Object> order = byKey(sortKey(a, 1, a.get(2, "attribute", null)));
        items.sort(Values.truthy(a.get(0, "reverse", false)) ? order.reversed() : order);
        return items;
    }

    private static Object dictsort(Object v, Arguments a) {
        if (!(v instanceof Map<?, ?> m)) throw new TemplateError("You can only sort by either \"key\" or \"value\" of a dict");
        String by = Values.str(a.get(1, "by", "key"));
        if (!by.equals("key") && !by.equals("value")) throw new TemplateError("You can only sort by either \"key\" or \"value\"");
        List<Object> pairs = new ArrayList<>();
        m.forEach((k, x) -> pairs.add(Tuple.of(k, x)));
        Function<Object, Object> key = sortKey(a, 0, null);
        int index = by.equals("key") ? 0 : 1;
        Comparator<Object> order = byKey(p -> key.apply(((Tuple) p).items().get(index)));
        pairs.sort(Values.truthy(a.get(2, "reverse", false)) ? order.reversed() : order);
        return pairs;
    }

    private static Object unique(Object v, Arguments a) {
        Function<Object, Object> key = sortKey(a, 0, a.get(1, "attribute", null));
        List<Object> kept = new ArrayList<>(), keys = new ArrayList<>();
        for (Object x : Operators.iterate(v)) {
            Object k = key.apply(x);
            if (keys.stream().noneMatch(seen -> Values.equal(seen, k))) {
                keys.add(k);
                kept.add(x);
            }
        }
        return kept;
    }

    private static Object extreme(Object v, Arguments a, boolean max) {
        List<Object> items = Operators.iterate(v);
        if (items.isEmpty()) return Undefined.because("No " + (max ? "largest" : "smallest") + " item, sequence was empty.");
        Comparator<Object> order = byKey(sortKey(a, 0, a.get(1, "attribute", null)));
        Object best = items.get(0);
        for (Object x : items) if (max ? order.compare(x, best) > 0 : order.compare(x, best) < 0) best = x;
        return best;
    }
}
