package org.gpt4llm.generate.jinja;

import java.util.List;

/** A Python tuple: what {@code (a, b)}, {@code dict.items()} and a macro's varargs give; prints as {@code (a, b)}. */
record Tuple(List<Object> items) {
    Tuple {
        items = java.util.Collections.unmodifiableList(new java.util.ArrayList<>(items));
    }

    static Tuple of(Object... items) {
        return new Tuple(java.util.Arrays.asList(items));
    }
}
