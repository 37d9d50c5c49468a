package org.gpt4llm.generate;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The subset of Jinja2 that HF chat templates use, rendered as transformers' {@code apply_chat_template}
 * does (trim_blocks and lstrip_blocks on, one trailing newline of the source dropped):
 * <ul>
 *   <li>text, {@code {{ expr }}}, {@code {# comments #}} and {@code -} whitespace control;</li>
 *   <li>{@code {% for x in xs [if cond] %}} (also {@code for a, b in ...}) with {@code loop.index, index0,
 *       first, last, length, revindex, revindex0}; {@code {% if %} / elif / else}; {@code {% set x = e %}}
 *       (scoped to the loop body it is in, as in Jinja);</li>
 *   <li>literals (strings, numbers, true/false/none, lists, dicts), names, {@code a.b}, {@code a['b']},
 *       slices {@code a[1:]}, {@code x if c else y}, {@code or and not}, comparisons and {@code in},
 *       {@code + - * / // %} and {@code ~};</li>
 *   <li>filters {@code trim length upper lower capitalize title string first last join default tojson},
 *       tests {@code defined undefined none string number mapping iterable sequence boolean true false
 *       even odd}, string methods {@code strip lstrip rstrip upper lower title capitalize startswith
 *       endswith split replace}, dict methods {@code items keys values get}, and the functions
 *       {@code raise_exception} and {@code range}.</li>
 * </ul>
 * Anything else (macros, namespaces, {@code {% set %}} blocks, other filters...) is one
 * {@link IllegalArgumentException} naming the construct, when the template is parsed or when it is reached.
 */
public final class Jinja {
    /** A variable that does not exist: renders as "", is falsy, and fails when looked into. */
    static final Object UNDEFINED = new Object() {
        @Override
        public String toString() {
            return "Undefined";
        }
    };

    @FunctionalInterface
    interface Fn {
        Object call(List<Object> args);
    }

    private interface Expr {
        Object eval(Scope s);
    }

    private interface Node {
        void render(Scope s, StringBuilder out);
    }

    private final List<Node> body;

    private Jinja(List<Node> body) {
        this.body = body;
    }

    /** Parses {@code source}; an unsupported construct fails here where it can be seen without running. */
    public static Jinja parse(String source) {
        return new Parser(source).parseTemplate();
    }

    /** Renders with {@code vars} (maps, lists, strings, numbers, booleans, null) as the global names. */
    public String render(Map<String, Object> vars) {
        Scope s = new Scope(null);
        s.vars.put("raise_exception", (Fn) a -> {
            throw new IllegalArgumentException("the chat template refused the conversation: " + (a.isEmpty() ? "" : str(a.get(0))));
        });
        s.vars.put("range", (Fn) a -> {
            long from = a.size() > 1 ? num(a.get(0)).longValue() : 0, to = num(a.get(a.size() > 1 ? 1 : 0)).longValue();
            List<Object> r = new ArrayList<>();
            for (long i = from; i < to; i++) r.add(i);
            return r;
        });
        vars.forEach((k, v) -> s.vars.put(k, normalise(v)));
        StringBuilder out = new StringBuilder();
        for (Node n : body) n.render(s, out);
        return out.toString();
    }

    private static Object normalise(Object v) {
        if (v instanceof Integer i) return i.longValue();
        if (v instanceof Float f) return f.doubleValue();
        if (v instanceof List<?> l) return l.stream().map(Jinja::normalise).toList();
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> c = new LinkedHashMap<>();
            m.forEach((k, x) -> c.put(k, normalise(x)));
            return c;
        }
        return v;
    }

    private static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object get(String name) {
            for (Scope s = this; s != null; s = s.parent) if (s.vars.containsKey(name)) return s.vars.get(name);
            return UNDEFINED;
        }
    }

    // ---- values, as Python sees them ----

    static boolean truthy(Object v) {
        if (v == null || v == UNDEFINED) return false;
        if (v instanceof Boolean b) return b;
        if (v instanceof Number n) return n.doubleValue() != 0;
        if (v instanceof String s) return !s.isEmpty();
        if (v instanceof List<?> l) return !l.isEmpty();
        if (v instanceof Map<?, ?> m) return !m.isEmpty();
        return true;
    }

    static String str(Object v) {
        if (v == UNDEFINED) return "";
        if (v == null) return "None";
        if (v instanceof Boolean b) return b ? "True" : "False";
        if (v instanceof String s) return s;
        if (v instanceof List<?> l) {
            List<String> parts = new ArrayList<>();
            for (Object o : l) parts.add(o instanceof String s ? "'" + s + "'" : str(o));
            return "[" + String.join(", ", parts) + "]";
        }
        return String.valueOf(v);
    }

    private static Number num(Object v) {
        if (v instanceof Number n) return n;
        if (v instanceof Boolean b) return b ? 1L : 0L;
        throw new IllegalArgumentException("chat template: " + str(v) + " is not a number");
    }

    private static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static boolean equal(Object a, Object b) {
        if ((a instanceof Number || a instanceof Boolean) && (b instanceof Number || b instanceof Boolean)) {
            return num(a).doubleValue() == num(b).doubleValue();
        }
        return Objects.equals(a, b);
    }

    private static int compare(Object a, Object b) {
        if (a instanceof String x && b instanceof String y) return x.compareTo(y);
        return Double.compare(num(a).doubleValue(), num(b).doubleValue());
    }

    private static Object add(Object a, Object b) {
        if (a instanceof String x && b instanceof String y) return x + y;
        if (a instanceof List<?> x && b instanceof List<?> y) {
            List<Object> r = new ArrayList<>(x);
            r.addAll(y);
            return r;
        }
        if ((a instanceof Number || a instanceof Boolean) && (b instanceof Number || b instanceof Boolean)) {
            return isInt(a) && isInt(b) ? (Object) (num(a).longValue() + num(b).longValue()) : num(a).doubleValue() + num(b).doubleValue();
        }
        throw new IllegalArgumentException("chat template: cannot add " + typeName(a) + " and " + typeName(b)
                + " (use ~ to join text)");
    }

    private static String typeName(Object v) {
        return v == UNDEFINED ? "an undefined value" : v == null ? "none" : v instanceof String ? "a string"
                : v instanceof Number ? "a number" : v instanceof List ? "a list" : v instanceof Map ? "a dict" : "a value";
    }

    private static Object arith(String op, Object a, Object b) {
        boolean ints = isInt(a) && isInt(b);
        double x = num(a).doubleValue(), y = num(b).doubleValue();
        return switch (op) {
            case "-" -> ints ? (Object) (num(a).longValue() - num(b).longValue()) : x - y;
            case "*" -> ints ? (Object) (num(a).longValue() * num(b).longValue()) : x * y;
            case "/" -> x / y;
            case "//" -> ints ? (Object) Math.floorDiv(num(a).longValue(), num(b).longValue()) : Math.floor(x / y);
            case "%" -> {
                if (a instanceof String) throw new IllegalArgumentException("chat template: unsupported Jinja construct: string % formatting");
                yield ints ? (Object) Math.floorMod(num(a).longValue(), num(b).longValue()) : x - y * Math.floor(x / y);
            }
            default -> throw new IllegalStateException(op);
        };
    }

    private static boolean contains(Object container, Object item) {
        if (container instanceof String s) return s.contains(str(item));
        if (container instanceof List<?> l) return l.stream().anyMatch(o -> equal(o, item));
        if (container instanceof Map<?, ?> m) return m.containsKey(item);
        throw new IllegalArgumentException("chat template: 'in' needs a string, list or dict, got " + typeName(container));
    }

    private static Object item(Object obj, Object key) {
        if (obj == UNDEFINED || obj == null) {
            throw new IllegalArgumentException("chat template: cannot look up " + str(key) + " in " + typeName(obj));
        }
        if (obj instanceof Map<?, ?> m) return m.containsKey(key) ? m.get(key) : UNDEFINED;
        if (key instanceof Number n && (obj instanceof List<?> || obj instanceof String)) {
            int size = obj instanceof List<?> l ? l.size() : ((String) obj).length();
            int i = n.intValue() < 0 ? n.intValue() + size : n.intValue();
            if (i < 0 || i >= size) return UNDEFINED;
            return obj instanceof List<?> l ? l.get(i) : String.valueOf(((String) obj).charAt(i));
        }
        return UNDEFINED;
    }

    private static Object slice(Object obj, Object start, Object stop, Object step) {
        int size = obj instanceof List<?> l ? l.size() : obj instanceof String s ? s.length() : -1;
        if (size < 0) throw new IllegalArgumentException("chat template: cannot slice " + typeName(obj));
        int st = step == null ? 1 : num(step).intValue();
        if (st == 0) throw new IllegalArgumentException("chat template: slice step cannot be zero");
        int a = bound(start, st > 0 ? 0 : size - 1, size, st), b = bound(stop, st > 0 ? size : -1, size, st);
        List<Object> items = new ArrayList<>();
        StringBuilder sb = new StringBuilder();
        for (int i = a; st > 0 ? i < b : i > b; i += st) {
            if (obj instanceof List<?> l) items.add(l.get(i));
            else sb.append(((String) obj).charAt(i));
        }
        return obj instanceof List ? items : sb.toString();
    }

    private static int bound(Object v, int dflt, int size, int step) {
        if (v == null) return dflt;
        int i = num(v).intValue();
        if (i < 0) i += size;
        return step > 0 ? Math.max(0, Math.min(size, i)) : Math.max(-1, Math.min(size - 1, i));
    }

    private static final Set<String> TESTS = Set.of("defined", "undefined", "none", "string", "number", "mapping",
            "iterable", "sequence", "boolean", "true", "false", "even", "odd");

    private static boolean test(String name, Object v) {
        return switch (name) {
            case "defined" -> v != UNDEFINED;
            case "undefined" -> v == UNDEFINED;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "number" -> v instanceof Number;
            case "mapping" -> v instanceof Map;
            case "iterable" -> v instanceof List || v instanceof Map || v instanceof String;
            case "sequence" -> v instanceof List || v instanceof String;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "even" -> num(v).longValue() % 2 == 0;
            case "odd" -> num(v).longValue() % 2 != 0;
            default -> throw new IllegalStateException(name);
        };
    }

    private static final Set<String> FILTERS = Set.of("trim", "length", "count", "upper", "lower", "capitalize", "title",
            "string", "first", "last", "join", "default", "d", "tojson");
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Object filter(String name, Object v, List<Object> args) {
        return switch (name) {
            case "trim" -> str(v).strip();
            case "length", "count" -> (long) (v instanceof List<?> l ? l.size() : v instanceof Map<?, ?> m ? m.size() : str(v).length());
            case "upper" -> str(v).toUpperCase(Locale.ROOT);
            case "lower" -> str(v).toLowerCase(Locale.ROOT);
            case "capitalize" -> capitalize(str(v));
            case "title" -> title(str(v));
            case "string" -> str(v);
            case "first" -> item(v, 0L);
            case "last" -> item(v, -1L);
            case "join" -> {
                List<String> parts = new ArrayList<>();
                for (Object o : (List<?>) v) parts.add(str(o));
                yield String.join(args.isEmpty() ? "" : str(args.get(0)), parts);
            }
            case "default", "d" -> v == UNDEFINED || (args.size() > 1 && truthy(args.get(1)) && !truthy(v))
                    ? (args.isEmpty() ? "" : args.get(0)) : v;
            case "tojson" -> toJson(v);
            default -> throw new IllegalStateException(name);
        };
    }

    /** Python's json.dumps with its default separators, as transformers' tojson (non-ASCII kept). */
    private static String toJson(Object v) {
        if (v == null || v == UNDEFINED) return "null";
        if (v instanceof Boolean b) return b ? "true" : "false";
        if (v instanceof Number) return str(v);
        if (v instanceof List<?> l) {
            List<String> parts = new ArrayList<>();
            for (Object o : l) parts.add(toJson(o));
            return "[" + String.join(", ", parts) + "]";
        }
        if (v instanceof Map<?, ?> m) {
            List<String> parts = new ArrayList<>();
            m.forEach((k, x) -> parts.add(toJson(str(k)) + ": " + toJson(x)));
            return "{" + String.join(", ", parts) + "}";
        }
        try {
            return JSON.writeValueAsString(str(v));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder();
        boolean start = true;
        for (char c : s.toCharArray()) {
            sb.append(start ? Character.toUpperCase(c) : Character.toLowerCase(c));
            start = !Character.isLetterOrDigit(c);
        }
        return sb.toString();
    }

    private static Object method(Object obj, String name, List<Object> a) {
        if (obj instanceof String s) {
            String arg = a.isEmpty() || a.get(0) == null ? null : str(a.get(0));
            switch (name) {
                case "strip": return arg == null ? s.strip() : stripChars(stripChars(s, arg, true), arg, false);
                case "lstrip": return arg == null ? s.stripLeading() : stripChars(s, arg, true);
                case "rstrip": return arg == null ? s.stripTrailing() : stripChars(s, arg, false);
                case "upper": return s.toUpperCase(Locale.ROOT);
                case "lower": return s.toLowerCase(Locale.ROOT);
                case "title": return title(s);
                case "capitalize": return capitalize(s);
                case "startswith": return s.startsWith(arg);
                case "endswith": return s.endsWith(arg);
                case "replace": return s.replace(arg, str(a.get(1)));
                case "split": {
                    List<Object> parts = new ArrayList<>();
                    if (arg == null) {
                        for (String p : s.strip().split("\\s+")) if (!p.isEmpty()) parts.add(p);
                    } else {
                        int from = 0, at;
                        while ((at = s.indexOf(arg, from)) >= 0) {
                            parts.add(s.substring(from, at));
                            from = at + arg.length();
                        }
                        parts.add(s.substring(from));
                    }
                    return parts;
                }
                default: break;
            }
        } else if (obj instanceof Map<?, ?> m) {
            switch (name) {
                case "items": {
                    List<Object> r = new ArrayList<>();
                    m.forEach((k, v) -> r.add(java.util.Arrays.asList(k, v)));
                    return r;
                }
                case "keys": return new ArrayList<Object>(m.keySet());
                case "values": return new ArrayList<Object>(m.values());
                case "get": return m.containsKey(a.get(0)) ? m.get(a.get(0)) : a.size() > 1 ? a.get(1) : null;
                default: break;
            }
        }
        throw new IllegalArgumentException("chat template: unsupported Jinja construct: method ." + name + "() of " + typeName(obj));
    }

    private static String stripChars(String s, String chars, boolean left) {
        int a = 0, b = s.length();
        if (left) while (a < b && chars.indexOf(s.charAt(a)) >= 0) a++;
        else while (b > a && chars.indexOf(s.charAt(b - 1)) >= 0) b--;
        return s.substring(a, b);
    }

    private static List<?> iterable(Object v) {
        if (v instanceof List<?> l) return l;
        if (v instanceof Map<?, ?> m) return new ArrayList<>(m.keySet());
        if (v instanceof String s) return s.chars().mapToObj(c -> (Object) String.valueOf((char) c)).toList();
        throw new IllegalArgumentException("chat template: cannot loop over " + typeName(v));
    }

    // ---- parsing ----

    private static final class Parser {
        private final String src;
        /** The template cut into text, {{ }} and {% %} pieces, whitespace control applied. */
        private final List<String[]> parts = new ArrayList<>(); // {kind, content}: kind "text", "var", "block"
        private int next;

        Parser(String source) {
            // Jinja drops a single trailing newline of the source
            src = source.endsWith("\n") ? source.substring(0, source.length() - 1) : source;
            split();
        }

        private void split() {
            int i = 0;
            boolean lstripNext = false, trimNext = false;
            while (i <= src.length()) {
                int open = findOpen(i);
                String text = src.substring(i, open < 0 ? src.length() : open);
                if (lstripNext) text = text.stripLeading();
                else if (trimNext && text.startsWith("\n")) text = text.substring(1);
                else if (trimNext && text.startsWith("\r\n")) text = text.substring(2);
                if (open < 0) {
                    parts.add(new String[] {"text", text});
                    break;
                }
                char kind = src.charAt(open + 1);
                boolean minusBefore = open + 2 < src.length() && src.charAt(open + 2) == '-';
                boolean plusBefore = open + 2 < src.length() && src.charAt(open + 2) == '+';
                if (minusBefore) {
                    text = text.stripTrailing();
                } else if (kind != '{' && !plusBefore) { // lstrip_blocks: blanks between a line's start and a block tag
                    int j = open - 1;
                    while (j >= i && (src.charAt(j) == ' ' || src.charAt(j) == '\t')) j--;
                    if (j < 0 || src.charAt(j) == '\n') {
                        int blanks = open - 1 - j, keep = Math.max(0, text.length() - blanks);
                        if (text.substring(keep).isBlank()) text = text.substring(0, keep);
                    }
                }
                parts.add(new String[] {"text", text});
                String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
                int end = findClose(open + 2, close, kind == '#');
                if (end < 0) throw new IllegalArgumentException("chat template: " + src.substring(open, open + 2) + " is never closed");
                boolean minusAfter = src.charAt(end - 1) == '-' && end - 1 >= open + 2 + (minusBefore || plusBefore ? 1 : 0);
                String inner = src.substring(open + 2 + (minusBefore || plusBefore ? 1 : 0), minusAfter ? end - 1 : end).strip();
                if (kind == '{') parts.add(new String[] {"var", inner});
                else if (kind == '%') parts.add(new String[] {"block", inner});
                lstripNext = minusAfter;
                trimNext = !minusAfter && kind != '{'; // trim_blocks: the newline after a block tag goes
                i = end + 2;
            }
        }

        private int findOpen(int from) {
            for (int j = from; j + 1 < src.length(); j++) {
                char c = src.charAt(j + 1);
                if (src.charAt(j) == '{' && (c == '{' || c == '%' || c == '#')) return j;
            }
            return -1;
        }

        /** The closing delimiter, skipping quoted strings inside expressions. */
        private int findClose(int from, String close, boolean comment) {
            char quote = 0;
            for (int j = from; j + 1 < src.length(); j++) {
                char c = src.charAt(j);
                if (quote != 0) {
                    if (c == '\\') j++;
                    else if (c == quote) quote = 0;
                } else if (!comment && (c == '\'' || c == '"')) {
                    quote = c;
                } else if (src.startsWith(close, j)) {
                    return j;
                }
            }
            return -1;
        }

        Jinja parseTemplate() {
            List<Node> body = parseBody(Set.of());
            if (next < parts.size()) {
                throw new IllegalArgumentException("chat template: {% " + parts.get(next)[1] + " %} has no opening tag");
            }
            return new Jinja(body);
        }

        /** Nodes up to (not past) a block whose keyword is in {@code ends}. */
        private List<Node> parseBody(Set<String> ends) {
            List<Node> nodes = new ArrayList<>();
            while (next < parts.size()) {
                String[] p = parts.get(next);
                switch (p[0]) {
                    case "text" -> {
                        String t = p[1];
                        next++;
                        if (!t.isEmpty()) nodes.add((s, out) -> out.append(t));
                    }
                    case "var" -> {
                        Expr e = new ExprParser(p[1]).parseAll();
                        next++;
                        nodes.add((s, out) -> out.append(str(e.eval(s))));
                    }
                    default -> {
                        String keyword = p[1].split("[\\s(]", 2)[0];
                        if (ends.contains(keyword)) return nodes;
                        next++;
                        nodes.add(switch (keyword) {
                            case "if" -> parseIf(p[1].substring(2));
                            case "for" -> parseFor(p[1].substring(3));
                            case "set" -> parseSet(p[1].substring(3));
                            default -> throw new IllegalArgumentException("chat template: unsupported Jinja construct {% "
                                    + keyword + " %}" + (Set.of("endif", "endfor", "elif", "else").contains(keyword)
                                    ? " without its opening tag" : ""));
                        });
                    }
                }
            }
            if (!ends.isEmpty()) {
                String closer = ends.stream().filter(k -> k.startsWith("end")).findFirst().orElseThrow();
                throw new IllegalArgumentException("chat template: missing {% " + closer + " %}");
            }
            return nodes;
        }

        private String keywordAt() {
            if (next >= parts.size()) return "";
            return parts.get(next)[1].split("[\\s(]", 2)[0];
        }

        private Node parseIf(String cond) {
            List<Expr> conds = new ArrayList<>();
            List<List<Node>> bodies = new ArrayList<>();
            conds.add(new ExprParser(cond).parseAll());
            Set<String> ends = Set.of("elif", "else", "endif");
            bodies.add(parseBody(ends));
            while (true) {
                String k = keywordAt();
                String content = parts.get(next)[1];
                next++;
                if (k.equals("elif")) {
                    conds.add(new ExprParser(content.substring(4)).parseAll());
                    bodies.add(parseBody(ends));
                } else if (k.equals("else")) {
                    conds.add(s -> true);
                    bodies.add(parseBody(Set.of("endif")));
                } else {
                    break;
                }
            }
            return (s, out) -> {
                for (int i = 0; i < conds.size(); i++) {
                    if (truthy(conds.get(i).eval(s))) {
                        for (Node n : bodies.get(i)) n.render(s, out);
                        return;
                    }
                }
            };
        }

        private Node parseFor(String head) {
            ExprParser ep = new ExprParser(head);
            List<String> targets = new ArrayList<>();
            targets.add(ep.name());
            while (ep.accept(",")) targets.add(ep.name());
            ep.expect("in");
            Expr seq = ep.parseExpr(false);
            Expr filter = ep.accept("if") ? ep.parseExpr(true) : null;
            if (ep.accept("recursive")) throw new IllegalArgumentException("chat template: unsupported Jinja construct: recursive loops");
            ep.end();
            List<Node> body = parseBody(Set.of("endfor", "else"));
            if (keywordAt().equals("else")) throw new IllegalArgumentException("chat template: unsupported Jinja construct {% for %}...{% else %}");
            next++;
            return (s, out) -> {
                List<Object> items = new ArrayList<>();
                for (Object item : iterable(seq.eval(s))) {
                    if (filter != null) {
                        Scope f = new Scope(s);
                        bind(f, targets, item);
                        if (!truthy(filter.eval(f))) continue;
                    }
                    items.add(item);
                }
                for (int i = 0; i < items.size(); i++) {
                    Scope inner = new Scope(s);
                    bind(inner, targets, items.get(i));
                    Map<String, Object> loop = new HashMap<>();
                    loop.put("index0", (long) i);
                    loop.put("index", (long) i + 1);
                    loop.put("first", i == 0);
                    loop.put("last", i == items.size() - 1);
                    loop.put("length", (long) items.size());
                    loop.put("revindex", (long) (items.size() - i));
                    loop.put("revindex0", (long) (items.size() - i - 1));
                    inner.vars.put("loop", loop);
                    for (Node n : body) n.render(inner, out);
                }
            };
        }

        private static void bind(Scope s, List<String> targets, Object item) {
            if (targets.size() == 1) {
                s.vars.put(targets.get(0), item);
                return;
            }
            if (!(item instanceof List<?> l) || l.size() != targets.size()) {
                throw new IllegalArgumentException("chat template: cannot unpack " + str(item) + " into " + targets);
            }
            for (int i = 0; i < targets.size(); i++) s.vars.put(targets.get(i), l.get(i));
        }

        private Node parseSet(String rest) {
            ExprParser ep = new ExprParser(rest);
            String name = ep.name();
            if (ep.accept(".")) throw new IllegalArgumentException("chat template: unsupported Jinja construct: {% set " + name + ".attribute %} (namespaces)");
            if (!ep.accept("=")) throw new IllegalArgumentException("chat template: unsupported Jinja construct: {% set " + name + " %}...{% endset %} blocks");
            Expr value = ep.parseAll();
            return (s, out) -> s.vars.put(name, value.eval(s));
        }
    }

    /** Recursive descent over one tag's expression, with Jinja's precedence. */
    private static final class ExprParser {
        private final List<String> toks = new ArrayList<>();
        /** Parallel to toks: 's' string literal, 'n' number, 'i' name, 'o' operator. */
        private final List<Character> kinds = new ArrayList<>();
        private final String text;
        private int pos;

        ExprParser(String text) {
            this.text = text;
            lex();
        }

        private void lex() {
            int i = 0;
            while (i < text.length()) {
                char c = text.charAt(i);
                if (Character.isWhitespace(c)) {
                    i++;
                } else if (c == '\'' || c == '"') {
                    StringBuilder sb = new StringBuilder();
                    int j = i + 1;
                    while (j < text.length() && text.charAt(j) != c) {
                        char d = text.charAt(j);
                        if (d == '\\' && j + 1 < text.length()) {
                            char e = text.charAt(++j);
                            sb.append(switch (e) {
                                case 'n' -> '\n';
                                case 't' -> '\t';
                                case 'r' -> '\r';
                                default -> e;
                            });
                        } else {
                            sb.append(d);
                        }
                        j++;
                    }
                    if (j >= text.length()) throw new IllegalArgumentException("chat template: unterminated string in " + text);
                    add(sb.toString(), 's');
                    i = j + 1;
                } else if (Character.isDigit(c)) {
                    int j = i;
                    while (j < text.length() && (Character.isDigit(text.charAt(j)) || text.charAt(j) == '.')) j++;
                    add(text.substring(i, j), 'n');
                    i = j;
                } else if (Character.isLetter(c) || c == '_') {
                    int j = i;
                    while (j < text.length() && (Character.isLetterOrDigit(text.charAt(j)) || text.charAt(j) == '_')) j++;
                    add(text.substring(i, j), 'i');
                    i = j;
                } else {
                    String two = i + 1 < text.length() ? text.substring(i, i + 2) : "";
                    if (Set.of("==", "!=", "<=", ">=", "//", "**").contains(two)) {
                        add(two, 'o');
                        i += 2;
                    } else if ("+-*/%~()[]{}.,:|<>=".indexOf(c) >= 0) {
                        add(String.valueOf(c), 'o');
                        i++;
                    } else {
                        throw new IllegalArgumentException("chat template: unexpected character '" + c + "' in " + text);
                    }
                }
            }
        }

        private void add(String t, char kind) {
            toks.add(t);
            kinds.add(kind);
        }

        private boolean at(String t) {
            return pos < toks.size() && toks.get(pos).equals(t) && kinds.get(pos) != 's';
        }

        boolean accept(String t) {
            if (!at(t)) return false;
            pos++;
            return true;
        }

        void expect(String t) {
            if (!accept(t)) throw error("expected '" + t + "'");
        }

        String name() {
            if (pos >= toks.size() || kinds.get(pos) != 'i') throw error("expected a name");
            return toks.get(pos++);
        }

        void end() {
            if (pos < toks.size()) throw error("unexpected '" + toks.get(pos) + "'");
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("chat template: " + what + " in {{ " + text + " }}");
        }

        Expr parseAll() {
            Expr e = parseExpr(true);
            end();
            return e;
        }

        /** {@code a if c else b} when {@code conditional}, else or-level only (a for loop's iterable). */
        Expr parseExpr(boolean conditional) {
            Expr e = parseOr();
            if (conditional && accept("if")) {
                Expr cond = parseOr();
                Expr other = accept("else") ? parseExpr(true) : s -> UNDEFINED;
                Expr then = e;
                return s -> truthy(cond.eval(s)) ? then.eval(s) : other.eval(s);
            }
            return e;
        }

        private Expr parseOr() {
            Expr l = parseAnd();
            while (accept("or")) {
                Expr a = l, b = parseAnd();
                l = s -> {
                    Object x = a.eval(s);
                    return truthy(x) ? x : b.eval(s);
                };
            }
            return l;
        }

        private Expr parseAnd() {
            Expr l = parseNot();
            while (accept("and")) {
                Expr a = l, b = parseNot();
                l = s -> {
                    Object x = a.eval(s);
                    return !truthy(x) ? x : b.eval(s);
                };
            }
            return l;
        }

        private Expr parseNot() {
            if (accept("not")) {
                Expr e = parseNot();
                return s -> !truthy(e.eval(s));
            }
            return parseCompare();
        }

        private Expr parseCompare() {
            Expr l = parseMath1();
            while (true) {
                String op;
                if (at("==") || at("!=") || at("<") || at(">") || at("<=") || at(">=") || at("in")) {
                    op = toks.get(pos++);
                } else if (at("not") && pos + 1 < toks.size() && toks.get(pos + 1).equals("in")) {
                    pos += 2;
                    op = "not in";
                } else {
                    return l;
                }
                Expr a = l, b = parseMath1();
                String o = op;
                l = s -> {
                    Object x = a.eval(s), y = b.eval(s);
                    return switch (o) {
                        case "==" -> equal(x, y);
                        case "!=" -> !equal(x, y);
                        case "<" -> compare(x, y) < 0;
                        case ">" -> compare(x, y) > 0;
                        case "<=" -> compare(x, y) <= 0;
                        case ">=" -> compare(x, y) >= 0;
                        case "in" -> contains(y, x);
                        default -> !contains(y, x);
                    };
                };
            }
        }

        private Expr parseMath1() {
            Expr l = parseConcat();
            while (at("+") || at("-")) {
                String op = toks.get(pos++);
                Expr a = l, b = parseConcat();
                l = op.equals("+") ? (Expr) s -> Jinja.add(a.eval(s), b.eval(s)) : s -> arith("-", a.eval(s), b.eval(s));
            }
            return l;
        }

        private Expr parseConcat() {
            Expr l = parseMath2();
            while (accept("~")) {
                Expr a = l, b = parseMath2();
                l = s -> str(a.eval(s)) + str(b.eval(s));
            }
            return l;
        }

        private Expr parseMath2() {
            Expr l = parseUnary();
            while (at("*") || at("/") || at("//") || at("%")) {
                String op = toks.get(pos++);
                Expr a = l, b = parseUnary();
                l = s -> arith(op, a.eval(s), b.eval(s));
            }
            if (at("**")) throw error("unsupported Jinja construct '**'");
            return l;
        }

        private Expr parseUnary() {
            if (accept("-")) {
                Expr e = parseUnary();
                return s -> arith("-", 0L, e.eval(s));
            }
            if (accept("+")) return parseUnary();
            return parseFilters(parsePostfix(parsePrimary()));
        }

        private Expr parsePrimary() {
            if (pos >= toks.size()) throw error("expression ends too soon");
            String t = toks.get(pos);
            char k = kinds.get(pos++);
            switch (k) {
                case 's': {
                    StringBuilder sb = new StringBuilder(t);
                    while (pos < toks.size() && kinds.get(pos) == 's') sb.append(toks.get(pos++)); // 'a' 'b' is 'ab'
                    String v = sb.toString();
                    return s -> v;
                }
                case 'n': {
                    Object v = t.contains(".") ? (Object) Double.parseDouble(t) : (Object) Long.parseLong(t);
                    return s -> v;
                }
                case 'i': {
                    switch (t) {
                        case "true", "True": return s -> true;
                        case "false", "False": return s -> false;
                        case "none", "None": return s -> null;
                        default: return s -> s.get(t);
                    }
                }
                default:
                    break;
            }
            if (t.equals("(")) {
                Expr e = parseExpr(true);
                if (at(",")) throw error("unsupported Jinja construct: tuples");
                expect(")");
                return e;
            }
            if (t.equals("[")) {
                List<Expr> items = new ArrayList<>();
                while (!accept("]")) {
                    items.add(parseExpr(true));
                    if (!accept(",")) {
                        expect("]");
                        break;
                    }
                }
                return s -> {
                    List<Object> r = new ArrayList<>();
                    for (Expr e : items) r.add(e.eval(s));
                    return r;
                };
            }
            if (t.equals("{")) {
                List<Expr[]> entries = new ArrayList<>();
                while (!accept("}")) {
                    Expr key = parseExpr(true);
                    expect(":");
                    entries.add(new Expr[] {key, parseExpr(true)});
                    if (!accept(",")) {
                        expect("}");
                        break;
                    }
                }
                return s -> {
                    Map<Object, Object> m = new LinkedHashMap<>();
                    for (Expr[] e : entries) m.put(e[0].eval(s), e[1].eval(s));
                    return m;
                };
            }
            pos--;
            throw error("unexpected '" + t + "'");
        }

        private List<Expr> args() {
            List<Expr> args = new ArrayList<>();
            while (!accept(")")) {
                if (pos + 1 < toks.size() && kinds.get(pos) == 'i' && toks.get(pos + 1).equals("=")) {
                    throw error("unsupported Jinja construct: keyword arguments");
                }
                args.add(parseExpr(true));
                if (!accept(",")) {
                    expect(")");
                    break;
                }
            }
            return args;
        }

        private static List<Object> evalAll(List<Expr> es, Scope s) {
            List<Object> r = new ArrayList<>();
            for (Expr e : es) r.add(e.eval(s));
            return r;
        }

        private Expr parsePostfix(Expr e) {
            while (true) {
                if (accept(".")) {
                    String attr = name();
                    Expr obj = e;
                    if (accept("(")) {
                        List<Expr> args = args();
                        e = s -> method(obj.eval(s), attr, evalAll(args, s));
                    } else {
                        e = s -> item(obj.eval(s), attr);
                    }
                } else if (accept("[")) {
                    Expr obj = e;
                    Expr start = at(":") ? null : parseExpr(true);
                    if (accept(":")) {
                        Expr stop = at(":") || at("]") ? null : parseExpr(true);
                        Expr step = accept(":") && !at("]") ? parseExpr(true) : null;
                        expect("]");
                        e = s -> slice(obj.eval(s), start == null ? null : start.eval(s), stop == null ? null : stop.eval(s),
                                step == null ? null : step.eval(s));
                    } else {
                        expect("]");
                        e = s -> item(obj.eval(s), start.eval(s));
                    }
                } else if (at("(")) {
                    pos++;
                    Expr fn = e;
                    List<Expr> args = args();
                    String callee = describe(fn);
                    e = s -> {
                        Object f = fn.eval(s);
                        if (!(f instanceof Fn call)) {
                            throw new IllegalArgumentException("chat template: unsupported Jinja construct: calling "
                                    + callee + ", which is not a known function");
                        }
                        return call.call(evalAll(args, s));
                    };
                } else {
                    return e;
                }
            }
        }

        /** The name of a callee, for messages. */
        private String describe(Expr fn) {
            int p = pos - 1;
            while (p >= 0 && !toks.get(p).equals("(")) p--;
            return p > 0 ? toks.get(p - 1) : "an expression";
        }

        private Expr parseFilters(Expr e) {
            while (true) {
                if (accept("|")) {
                    String f = name();
                    if (!FILTERS.contains(f)) throw error("unsupported Jinja construct: filter '" + f + "'");
                    List<Expr> args = accept("(") ? args() : List.of();
                    Expr v = e;
                    e = s -> filter(f, v.eval(s), evalAll(args, s));
                } else if (accept("is")) {
                    boolean negate = accept("not");
                    String t = name();
                    if (!TESTS.contains(t)) throw error("unsupported Jinja construct: test 'is " + t + "'");
                    Expr v = e;
                    e = s -> negate != test(t, v.eval(s));
                } else {
                    return e;
                }
            }
        }
    }
}
