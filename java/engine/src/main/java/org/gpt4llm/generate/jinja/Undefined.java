package org.gpt4llm.generate.jinja;

/**
 * Jinja's default Undefined: a missing variable, attribute or element. It prints as "", is false, iterates as
 * nothing and has length 0; looking into it, calling it or computing with it fails with the sentence Jinja
 * gives ("'x' is undefined", "'dict object' has no attribute 'y'").
 */
final class Undefined {
    private final String message;

    private Undefined(String message) {
        this.message = message;
    }

    /** A variable no one defined. */
    static Undefined variable(String name) {
        return new Undefined(Values.repr(name) + " is undefined");
    }

    /** An undefined value with Jinja's own wording of why ("there is no previous item"). */
    static Undefined because(String message) {
        return new Undefined(message);
    }

    /** {@code owner.name} or {@code owner['name']} that does not exist. */
    static Undefined attribute(Object owner, Object name) {
        if (!(name instanceof String)) return new Undefined(ownerName(owner) + " has no element " + Values.repr(name));
        return new Undefined(Values.repr(ownerName(owner)) + " has no attribute " + Values.repr(name));
    }

    private static String ownerName(Object owner) {
        return owner == null ? "None" : Values.typeName(owner) + " object";
    }

    TemplateError failure() {
        return new TemplateError(message);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Undefined;
    }

    @Override
    public int hashCode() {
        return 0;
    }

    @Override
    public String toString() {
        return "";
    }
}
