package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The methods a template may call on strings, lists, tuples and dicts ({@code s.strip()}, {@code d.items()}),
 * as Jinja's immutable sandbox allows them: methods that would change a list or dict fail as unsafe.
 */
final class Methods {
    private Methods() {}

    private static final Set<String> UNSAFE_LIST = Set.of("append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort");
    private static final Set<String> UNSAFE_DICT = Set.of("clear", "pop", "popitem", "setdefault", "update");
    /** Python methods this engine does not have; calling one is named as unsupported rather than as missing. */
    private static final Set<String> OTHER_STR = Set.of("casefold", "encode", "expandtabs", "format", "format_map", "isascii",
            "isdecimal", "isidentifier", "isnumeric", "isprintable", "istitle", "maketrans", "rindex", "rpartition", "translate");

    /** {@code obj.name} as a callable method, or null when the value has no such method. */
    static TemplateFunction bind(Object obj, String name) {
        return switch (obj) {
            case String s when STRING.contains(name) -> args -> string(s, name, args);
            case String s when OTHER_STR.contains(name) -> unsupported(obj, name);
            case Map<?, ?> m when Set.of("items", "keys", "values", "get", "copy").contains(name) -> args -> dict(m, name, args);
            case Map<?, ?> m when UNSAFE_DICT.contains(name) -> unsafe(obj, name);
            case List<?> l when Set.of("count", "index", "copy").contains(name) -> args -> sequence(l, name, args);
            case List<?> l when UNSAFE_LIST.contains(name) -> unsafe(obj, name);
            case Tuple t when Set.of("count", "index").contains(name) -> args -> sequence(t.items(), name, args);
            case null, default -> null;
        };
    }

    private static TemplateFunction unsafe(Object obj, String name) {
        return args -> {
            throw new TemplateError("access to attribute '" + name + "' of '" + Values.typeName(obj) + "' object is unsafe");
        };
    }

    private static TemplateFunction unsupported(Object obj, String name) {
        return args -> {
            throw new TemplateError("unsupported Jinja construct: method ." + name + "() of a " + Values.typeName(obj));
        };
    }

    private static final Set<String> STRING = Set.of("strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize",
            "swapcase", "startswith", "endswith", "split", "rsplit", "splitlines", "replace", "find", "rfind", "index", "count",
            "join", "center", "ljust", "rjust", "zfill", "removeprefix", "removesuffix", "partition", "isalpha", "isdigit",
            "isalnum", "isspace", "islower", "isupper");

    private static Object string(String s, String name, Arguments a) {
        Arguments args = new Arguments("str." + name, a.positional(), a.keywords());
        return switch (name) {
            case "strip", "lstrip", "rstrip" -> Strings.strip(s, optionalText(args.expect(1, Set.of()).get(0, "chars", null)),
                    !name.equals("rstrip"), !name.equals("lstrip"));
            case "upper" -> Strings.upper(s);
            case "lower" -> Strings.lower(s);
            case "title" -> Strings.title(s);
            case "capitalize" -> Strings.capitalize(s);
            case "swapcase" -> Strings.swapcase(s);
            case "startswith", "endswith" -> affix(s, name.equals("startswith"), args.expect(1, Set.of()).required(0, "prefix"));
            case "split", "rsplit" -> {
                args.expect(2, Set.of("sep", "maxsplit"));
                String sep = optionalText(args.get(0, "sep", null));
                long max = integer(args.get(1, "maxsplit", -1L), "maxsplit");
                yield name.equals("split") ? Strings.split(s, sep, max) : Strings.rsplit(s, sep, max);
            }
            case "splitlines" -> Strings.splitlines(s, Values.truthy(args.expect(1, Set.of("keepends")).get(0, "keepends", false)));
            case "replace" -> Strings.replace(s, text(args.expect(3, Set.of("count")).required(0, "old")),
                    text(args.required(1, "new")), integer(args.get(2, "count", -1L), "count"));
            case "find", "rfind" -> Strings.find(s, text(args.expect(1, Set.of()).required(0, "sub")), name.equals("rfind"));
            case "index" -> {
                long at = Strings.find(s, text(args.expect(1, Set.of()).required(0, "sub")), false);
                if (at < 0) throw new TemplateError("substring not found");
                yield at;
            }
            case "count" -> Strings.count(s, text(args.expect(1, Set.of()).required(0, "sub")));
            case "join" -> join(s, args.expect(1, Set.of()).required(0, "iterable"));
            case "center", "ljust", "rjust" -> Strings.pad(s, integer(args.expect(2, Set.of()).required(0, "width"), "width"),
                    text(args.get(1, "fillchar", " ")), name.equals("ljust") ? "left" : name.equals("rjust") ? "right" : "center");
            case "zfill" -> zfill(s, integer(args.expect(1, Set.of()).required(0, "width"), "width"));
            case "removeprefix" -> {
                String p = text(args.expect(1, Set.of()).required(0, "prefix"));
                yield s.startsWith(p) ? s.substring(p.length()) : s;
            }
            case "removesuffix" -> {
                String p = text(args.expect(1, Set.of()).required(0, "suffix"));
                yield s.endsWith(p) && !p.isEmpty() ? s.substring(0, s.length() - p.length()) : s;
            }
            case "partition" -> {
                String sep = text(args.expect(1, Set.of()).required(0, "sep"));
                if (sep.isEmpty()) throw new TemplateError("empty separator");
                int at = s.indexOf(sep);
                yield at < 0 ? Tuple.of(s, "", "") : Tuple.of(s.substring(0, at), sep, s.substring(at + sep.length()));
            }
            case "isalpha" -> Strings.all(s, Character::isLetter);
            case "isdigit" -> Strings.all(s, Character::isDigit);
            case "isalnum" -> Strings.all(s, Character::isLetterOrDigit);
            case "isspace" -> Strings.all(s, Values::isSpace);
            case "islower" -> s.codePoints().anyMatch(Character::isLowerCase) && s.equals(Strings.lower(s));
            case "isupper" -> s.codePoints().anyMatch(Character::isUpperCase) && s.equals(Strings.upper(s));
            default -> throw new IllegalStateException(name);
        };
    }

    private static boolean affix(String s, boolean start, Object affix) {
        List<?> options = affix instanceof Tuple t ? t.items() : List.of(affix);
        for (Object o : options) {
            if (!(o instanceof String a)) {
                throw new TemplateError((start ? "startswith" : "endswith") + " first arg must be str or a tuple of str, not "
                        + Values.typeName(o));
            }
            if (start ? s.startsWith(a) : s.endsWith(a)) return true;
        }
        return false;
    }

    private static String join(String separator, Object iterable) {
        List<Object> items = Operators.iterate(iterable);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < items.size(); i++) {
            if (!(items.get(i) instanceof String item)) {
                throw new TemplateError("sequence item " + i + ": expected str instance, " + Values.typeName(items.get(i)) + " found");
            }
            sb.append(i == 0 ? "" : separator).append(item);
        }
        return sb.toString();
    }

    private static String zfill(String s, long width) {
        long missing = width - Strings.length(s);
        if (missing <= 0) return s;
        int sign = !s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+') ? 1 : 0;
        return s.substring(0, sign) + "0".repeat((int) missing) + s.substring(sign);
    }

    private static Object dict(Map<?, ?> m, String name, Arguments a) {
        Arguments args = new Arguments("dict." + name, a.positional(), a.keywords());
        return switch (name) {
            case "items" -> {
                args.expect(0, Set.of());
                List<Object> r = new ArrayList<>();
                m.forEach((k, v) -> r.add(Tuple.of(k, v)));
                yield r;
            }
            case "keys" -> {
                args.expect(0, Set.of());
                yield new ArrayList<Object>(m.keySet());
            }
            case "values" -> {
                args.expect(0, Set.of());
                yield new ArrayList<Object>(m.values());
            }
            case "copy" -> new java.util.LinkedHashMap<Object, Object>(m);
            case "get" -> {
                Object key = args.expect(2, Set.of()).required(0, "key");
                yield m.containsKey(key) ? m.get(key) : args.get(1, "default", null);
            }
            default -> throw new IllegalStateException(name);
        };
    }

    private static Object sequence(List<?> items, String name, Arguments a) {
        Arguments args = new Arguments("list." + name, a.positional(), a.keywords());
        if (name.equals("copy")) return new ArrayList<Object>(items);
        Object x = args.expect(1, Set.of()).required(0, "value");
        if (name.equals("count")) return items.stream().filter(i -> Values.equal(i, x)).count();
        for (int i = 0; i < items.size(); i++) if (Values.equal(items.get(i), x)) return (long) i;
        throw new TemplateError(Values.repr(x) + " is not in list");
    }

    static String text(Object v) {
        if (v instanceof String s) return s;
        throw new TemplateError("expected a string, got " + Values.typeName(v) + " " + Values.repr(v));
    }

    private static String optionalText(Object v) {
        return v == null ? null : text(v);
    }

    static long integer(Object v, String what) {
        if (Values.isInt(v)) return Values.toLong(v);
        throw new TemplateError("'" + what + "' must be an integer, not " + Values.typeName(v));
    }
}
