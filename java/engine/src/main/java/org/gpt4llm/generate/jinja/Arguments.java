package org.gpt4llm.generate.jinja;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** The arguments of one call, positional and by keyword, bound to parameters as Python binds them. */
record Arguments(String callee, List<Object> positional, Map<String, Object> keywords) {
    /** The parameter at {@code index} (the first after the filtered value or the object is 0) or named {@code name}. */
    Object get(int index, String name, Object fallback) {
        if (index < positional.size()) {
            if (keywords.containsKey(name)) throw new TemplateError(callee + "() got multiple values for argument '" + name + "'");
            return positional.get(index);
        }
        return keywords.containsKey(name) ? keywords.get(name) : fallback;
    }

    /** Like {@link #get} for a parameter without a default. */
    Object required(int index, String name) {
        Object v = get(index, name, MISSING);
        if (v == MISSING) throw new TemplateError(callee + "() missing required argument '" + name + "'");
        return v;
    }

    /** Fails on more positional arguments than {@code max} or a keyword not in {@code names}. */
    Arguments expect(int max, Set<String> names) {
        if (positional.size() > max) {
            throw new TemplateError(callee + "() takes at most " + max + " argument" + (max == 1 ? "" : "s") + " ("
                    + positional.size() + " given)");
        }
        for (String k : keywords.keySet()) {
            if (!names.contains(k)) throw new TemplateError(callee + "() got an unexpected keyword argument '" + k + "'");
        }
        return this;
    }

    /** The positional arguments from {@code from} on. */
    List<Object> rest(int from) {
        return from >= positional.size() ? List.of() : positional.subList(from, positional.size());
    }

    private static final Object MISSING = new Object();
}
