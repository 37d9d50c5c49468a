package org.gpt4llm.generate.jinja;

import java.util.HashMap;
import java.util.Map;

/**
 * The variables visible at one place in a template, each level shadowing its parent: the globals, then the
 * render's variables (where top-level {@code {% set %}} writes), then one level per loop iteration, macro call
 * or {@code {% with %}}. {@code {% if %}} opens no level, so what it sets stays set.
 */
final class Scope {
    private final Scope parent;
    private final Map<String, Object> vars = new HashMap<>();

    Scope(Scope parent) {
        this.parent = parent;
    }

    Object get(String name) {
        for (Scope s = this; s != null; s = s.parent) {
            Object v = s.vars.get(name);
            if (v != null || s.vars.containsKey(name)) return v;
        }
        return Undefined.variable(name);
    }

    void set(String name, Object value) {
        vars.put(name, value);
    }

    Scope child() {
        return new Scope(this);
    }
}
