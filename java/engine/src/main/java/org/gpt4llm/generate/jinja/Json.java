package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * transformers' {@code tojson} filter: Python's {@code json.dumps(x, ensure_ascii=False, indent=..., separators=...,
 * sort_keys=...)}, so non-ASCII text stays as it is and keys keep their order unless sorted.
 */
final class Json {
    private final String indent;
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;
    private final boolean ascii;

    /** {@code indent}: null for one line, else the text of one level (json.dumps' int n is n spaces). */
    Json(String indent, String itemSeparator, String keySeparator, boolean sortKeys, boolean ascii) {
        this.indent = indent;
        this.itemSeparator = itemSeparator;
        this.keySeparator = keySeparator;
        this.sortKeys = sortKeys;
        this.ascii = ascii;
    }

    String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, 0, sb);
        return sb.toString();
    }

    private void write(Object v, int depth, StringBuilder sb) {
        switch (v) {
            case null -> sb.append("null");
            case Boolean b -> sb.append(b ? "true" : "false");
            case Long l -> sb.append(l);
            case Double d -> sb.append(number(d));
            case String s -> string(s, sb);
            case List<?> l -> array(l, depth, sb);
            case Tuple t -> array(t.items(), depth, sb);
            case Map<?, ?> m -> object(m, depth, sb);
            default -> throw new TemplateError("Object of type " + Values.typeName(v) + " is not JSON serializable");
        }
    }

    private static String number(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        return Values.floatRepr(d);
    }

    private void newline(int depth, StringBuilder sb) {
        if (indent != null) sb.append('\n').append(indent.repeat(depth));
    }

    private void array(List<?> items, int depth, StringBuilder sb) {
        if (items.isEmpty()) {
            sb.append("[]");
            return;
        }
        sb.append('[');
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) sb.append(itemSeparator);
            newline(depth + 1, sb);
            write(items.get(i), depth + 1, sb);
        }
        newline(depth, sb);
        sb.append(']');
    }

    private void object(Map<?, ?> m, int depth, StringBuilder sb) {
        if (m.isEmpty()) {
            sb.append("{}");
            return;
        }
        List<Map.Entry<String, Object>> entries = new ArrayList<>();
        m.forEach((k, v) -> entries.add(new java.util.AbstractMap.SimpleEntry<>(key(k), v)));
        if (sortKeys) entries.sort((a, b) -> Values.compareCodePoints(a.getKey(), b.getKey()));
        sb.append('{');
        for (int i = 0; i < entries.size(); i++) {
            if (i > 0) sb.append(itemSeparator);
            newline(depth + 1, sb);
            string(entries.get(i).getKey(), sb);
            sb.append(keySeparator);
            write(entries.get(i).getValue(), depth + 1, sb);
        }
        newline(depth, sb);
        sb.append('}');
    }

    /** A key as json.dumps writes it: strings as they are, numbers, booleans and None as their JSON text. */
    private static String key(Object k) {
        return switch (k) {
            case String s -> s;
            case null -> "null";
            case Boolean b -> b ? "true" : "false";
            case Long l -> l.toString();
            case Double d -> number(d);
            default -> throw new TemplateError("keys must be str, int, float, bool or None, not " + Values.typeName(k));
        };
    }

    /** A JSON string: quotes, backslashes and control characters escaped, non-ASCII too when asked (as UTF-16 units). */
    private void string(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ascii && c > 0x7e)) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
