package org.gpt4llm.generate.jinja;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The functions every template sees: Jinja's {@code range}, {@code dict}, {@code namespace}, {@code joiner}, and
 * the two transformers adds for chat templates, {@code raise_exception} and {@code strftime_now}.
 */
final class Globals {
    private Globals() {}

    /** Jinja's sandbox refuses longer ranges. */
    private static final long MAX_RANGE = 100_000;

    /** The global scope of one rendering; {@code now} is what strftime_now formats. */
    static Scope create(Supplier<LocalDateTime> now) {
        Scope s = new Scope(null);
        s.set("range", (TemplateFunction) Globals::range);
        s.set("dict", (TemplateFunction) Globals::dict);
        s.set("namespace", (TemplateFunction) args -> new Namespace(dict(args)));
        s.set("joiner", (TemplateFunction) args -> {
            String separator = Values.str(args.expect(1, java.util.Set.of("sep")).get(0, "sep", ", "));
            boolean[] used = {false};
            return (TemplateFunction) ignored -> {
                if (used[0]) return separator;
                used[0] = true;
                return "";
            };
        });
        for (String name : List.of("cycler", "lipsum")) {
            s.set(name, (TemplateFunction) args -> {
                throw new TemplateError("unsupported Jinja construct: " + name + "()");
            });
        }
        s.set("raise_exception", (TemplateFunction) args -> {
            throw TemplateError.raised(Values.str(args.expect(1, java.util.Set.of()).required(0, "message")));
        });
        s.set("strftime_now", (TemplateFunction) args ->
                strftime(Methods.text(args.expect(1, java.util.Set.of()).required(0, "format")), now.get()));
        return s;
    }

    private static Object range(Arguments args) {
        args.expect(3, java.util.Set.of());
        int n = args.positional().size();
        if (n == 0) throw new TemplateError("range expected at least 1 argument, got 0");
        long start = n > 1 ? Methods.integer(args.positional().get(0), "start") : 0;
        long stop = Methods.integer(args.positional().get(n > 1 ? 1 : 0), "stop");
        long step = n > 2 ? Methods.integer(args.positional().get(2), "step") : 1;
        if (step == 0) throw new TemplateError("range() arg 3 must not be zero");
        long length = step > 0 ? Math.max(0, (stop - start + step - 1) / step) : Math.max(0, (start - stop - step - 1) / -step);
        if (length > MAX_RANGE) {
            throw new TemplateError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + MAX_RANGE + ").");
        }
        List<Object> r = new ArrayList<>();
        for (long i = 0; i < length; i++) r.add(start + i * step);
        return r;
    }

    /** Python's dict(): from a mapping or (key, value) pairs, then keyword arguments. */
    private static Map<Object, Object> dict(Arguments args) {
        args.expect(1, args.keywords().keySet());
        Map<Object, Object> m = new LinkedHashMap<>();
        if (!args.positional().isEmpty()) {
            Object from = args.positional().get(0);
            if (from instanceof Map<?, ?> source) {
                m.putAll(source);
            } else {
                for (Object pair : Operators.iterate(from)) {
                    List<Object> kv = Operators.iterate(pair);
                    if (kv.size() != 2) throw new TemplateError("dictionary update sequence element has length " + kv.size() + "; 2 is required");
                    m.put(kv.get(0), kv.get(1));
                }
            }
        }
        m.putAll(args.keywords());
        return m;
    }

    /** Python's datetime.strftime in the C locale, for the directives chat templates use. */
    static String strftime(String format, LocalDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                sb.append(c);
                continue;
            }
            char d = format.charAt(++i);
            boolean unpadded = d == '-' && i + 1 < format.length(); // glibc's %-d: no leading zero
            if (unpadded) d = format.charAt(++i);
            String two = unpadded ? "%d" : "%02d";
            sb.append(switch (d) {
                case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US);
                case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US);
                case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US);
                case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.US);
                case 'd' -> String.format(two, t.getDayOfMonth());
                case 'e' -> String.format("%2d", t.getDayOfMonth());
                case 'm' -> String.format(two, t.getMonthValue());
                case 'y' -> String.format("%02d", t.getYear() % 100);
                case 'Y' -> String.valueOf(t.getYear());
                case 'H' -> String.format(two, t.getHour());
                case 'I' -> String.format(two, (t.getHour() + 11) % 12 + 1);
                case 'M' -> String.format(two, t.getMinute());
                case 'S' -> String.format(two, t.getSecond());
                case 'p' -> t.getHour() < 12 ? "AM" : "PM";
                case 'j' -> String.format(unpadded ? "%d" : "%03d", t.getDayOfYear());
                case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
                case 'F' -> String.format("%04d-%02d-%02d", t.getYear(), t.getMonthValue(), t.getDayOfMonth());
                case 'T' -> String.format("%02d:%02d:%02d", t.getHour(), t.getMinute(), t.getSecond());
                case 'z', 'Z' -> "";
                case '%' -> "%";
                default -> throw new TemplateError("unsupported strftime directive %" + d);
            });
        }
        return sb.toString();
    }
}
