package org.gpt4llm.generate.jinja;

/** Anything a template can call: a global such as {@code range}, a macro, a method of a string or dict. */
@FunctionalInterface
interface TemplateFunction {
    Object call(Arguments args);
}
