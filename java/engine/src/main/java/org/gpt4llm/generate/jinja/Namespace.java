package org.gpt4llm.generate.jinja;

import java.util.LinkedHashMap;
import java.util.Map;

/** What {@code namespace(...)} makes: the one object a template may change, with {@code {% set ns.x = ... %}}. */
final class Namespace {
    private final Map<Object, Object> attributes = new LinkedHashMap<>();

    Namespace(Map<?, ?> initial) {
        attributes.putAll(initial);
    }

    Map<Object, Object> attributes() {
        return attributes;
    }

    Object get(String name) {
        return attributes.containsKey(name) ? attributes.get(name) : Undefined.attribute(this, name);
    }

    void set(String name, Object value) {
        attributes.put(name, value);
    }
}
