package org.gpt4llm.generate.jinja;

/** An expression of a template, evaluated against the variables in scope. */
@FunctionalInterface
interface Expr {
    Object eval(Scope scope);
}
