package org.gpt4llm.generate.jinja;

/** One piece of a template: text, a tag's delimiters, or a name, literal or operator inside a tag. */
record Token(Kind kind, String text, Object value, int line) {
    enum Kind { DATA, VARIABLE_BEGIN, VARIABLE_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, END }

    boolean is(Kind k, String t) {
        return kind == k && text.equals(t);
    }

    boolean isName(String name) {
        return is(Kind.NAME, name);
    }

    boolean isOperator(String op) {
        return is(Kind.OPERATOR, op);
    }

    /** How an error message names this token. */
    String describe() {
        return switch (kind) {
            case END -> "end of template";
            case VARIABLE_END -> "end of print statement";
            case BLOCK_END -> "end of statement block";
            case STRING -> "string " + Values.repr(value);
            default -> "'" + text + "'";
        };
    }
}
