package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The statements the parser builds. An error gets the line of the innermost statement it happened in. */
final class Statements {
    private Statements() {}

    /** Where a {@code {% set %}} or {@code {% for %}} puts a value: names (unpacked when several) or ns.attribute. */
    record Target(List<String> names, String namespace, String attribute) {
        static Target of(List<String> names) {
            return new Target(names, null, null);
        }

        void assign(Scope scope, Object value) {
            if (namespace != null) {
                if (!(scope.get(namespace) instanceof Namespace ns)) {
                    throw new TemplateError("cannot assign attribute on non-namespace object");
                }
                ns.set(attribute, value);
            } else if (names.size() == 1) {
                scope.set(names.get(0), value);
            } else {
                if (value instanceof Undefined u) throw u.failure();
                List<Object> items = Operators.iterate(value);
                if (items.size() != names.size()) {
                    throw new TemplateError(items.size() > names.size() ? "too many values to unpack (expected " + names.size() + ")"
                            : "not enough values to unpack (expected " + names.size() + ", got " + items.size() + ")");
                }
                for (int i = 0; i < names.size(); i++) scope.set(names.get(i), items.get(i));
            }
        }
    }

    record Text(String text) implements Node {
        public void render(Scope scope, StringBuilder out) {
            out.append(text);
        }
    }

    record Output(Expr value, int line) implements Node {
        public void render(Scope scope, StringBuilder out) {
            try {
                out.append(Values.str(value.eval(scope)));
            } catch (TemplateError e) {
                throw e.atLine(line);
            }
        }
    }

    /** {@code {% if %}...{% elif %}...{% else %}}: the bodies of the first true condition (the else has none). */
    record If(List<Expr> conditions, List<List<Node>> bodies, List<Integer> lines) implements Node {
        public void render(Scope scope, StringBuilder out) {
            for (int i = 0; i < bodies.size(); i++) {
                boolean chosen;
                try {
                    chosen = i >= conditions.size() || Values.truthy(conditions.get(i).eval(scope));
                } catch (TemplateError e) {
                    throw e.atLine(lines.get(i));
                }
                if (chosen) {
                    Node.renderAll(bodies.get(i), scope, out);
                    return;
                }
            }
        }
    }

    /** {@code {% for t in xs if c %}...{% else %}...{% endfor %}}: each iteration in a scope of its own. */
    record For(Target target, Expr iterable, Expr filter, List<Node> body, List<Node> otherwise, int line) implements Node {
        public void render(Scope scope, StringBuilder out) {
            List<Object> items = new ArrayList<>();
            try {
                for (Object item : Operators.iterate(iterable.eval(scope))) {
                    if (filter != null) {
                        Scope test = scope.child();
                        target.assign(test, item);
                        if (!Values.truthy(filter.eval(test))) continue;
                    }
                    items.add(item);
                }
            } catch (TemplateError e) {
                throw e.atLine(line);
            }
            Loop loop = new Loop(items);
            for (int i = 0; i < items.size(); i++) {
                Scope inner = scope.child();
                try {
                    target.assign(inner, items.get(i));
                } catch (TemplateError e) {
                    throw e.atLine(line);
                }
                loop.moveTo(i);
                inner.set("loop", loop);
                try {
                    Node.renderAll(body, inner, out);
                } catch (LoopControl control) {
                    if (control == LoopControl.BREAK) break;
                }
            }
            if (items.isEmpty()) Node.renderAll(otherwise, scope, out);
        }
    }

    /** {@code {% break %}} and {@code {% continue %}}, thrown to the loop they are in. */
    static final class LoopControl extends RuntimeException {
        static final LoopControl BREAK = new LoopControl(), CONTINUE = new LoopControl();

        private LoopControl() {
            super(null, null, false, false);
        }
    }

    record Jump(LoopControl control) implements Node {
        public void render(Scope scope, StringBuilder out) {
            throw control;
        }
    }

    record Assign(Target target, Expr value, int line) implements Node {
        public void render(Scope scope, StringBuilder out) {
            try {
                target.assign(scope, value.eval(scope));
            } catch (TemplateError e) {
                throw e.atLine(line);
            }
        }
    }

    /** The name under which {@code {% set x | f %}} and {@code {% filter f %}} hand their rendered body to the filters. */
    static final String BLOCK_TEXT = "(block text)";

    /**
     * {@code {% set x %}...{% endset %}} (through optional filters) and {@code {% filter f %}...{% endfilter %}}; what
     * the body sets stays in it.
     */
    record Captured(Target target, Expr filters, List<Node> body, int line) implements Node {
        public void render(Scope scope, StringBuilder out) {
            StringBuilder text = new StringBuilder();
            Node.renderAll(body, scope.child(), text);
            try {
                Object value = text.toString();
                if (filters != null) {
                    Scope withText = scope.child();
                    withText.set(BLOCK_TEXT, value);
                    value = filters.eval(withText);
                }
                if (target == null) out.append(Values.str(value));
                else target.assign(scope, value);
            } catch (TemplateError e) {
                throw e.atLine(line);
            }
        }
    }

    /** {@code {% with a = 1 %}...{% endwith %}}: the names set only inside. */
    record With(List<Target> targets, List<Expr> values, List<Node> body, int line) implements Node {
        public void render(Scope scope, StringBuilder out) {
            Scope inner = scope.child();
            try {
                for (int i = 0; i < targets.size(); i++) targets.get(i).assign(inner, values.get(i).eval(scope));
            } catch (TemplateError e) {
                throw e.atLine(line);
            }
            Node.renderAll(body, inner, out);
        }
    }

    /** A body rendered as it is, in a scope of its own: transformers' {@code {% generation %}} marks assistant text so. */
    record Block(List<Node> body) implements Node {
        public void render(Scope scope, StringBuilder out) {
            Node.renderAll(body, scope.child(), out);
        }
    }

    /**
     * {@code {% macro name(a, b=default) %}...{% endmacro %}}: defines a function that renders its body. The body
     * of a {@code {% call %}} is one too, which the macro called reaches as {@code caller()}.
     */
    record Macro(String name, List<String> parameters, List<Expr> defaults, List<Node> body, int line) implements Node {
        public void render(Scope scope, StringBuilder out) {
            scope.set(name, function(scope));
        }

        TemplateFunction function(Scope defined) {
            return args -> call(defined, args);
        }

        /** Runs in a scope of its own over the one the macro was defined in, so it sees later top-level sets too. */
        private Object call(Scope defined, Arguments args) {
            Scope inner = defined.child();
            int firstDefault = parameters.size() - defaults.size();
            Map<String, Object> extraKeywords = new LinkedHashMap<>(args.keywords());
            for (int i = 0; i < parameters.size(); i++) {
                String p = parameters.get(i);
                if (i < args.positional().size()) {
                    if (extraKeywords.containsKey(p)) throw new TemplateError("macro '" + name + "' got multiple values for argument '" + p + "'");
                    inner.set(p, args.positional().get(i));
                } else if (extraKeywords.containsKey(p)) {
                    inner.set(p, extraKeywords.remove(p));
                } else if (i >= firstDefault) {
                    inner.set(p, defaults.get(i - firstDefault).eval(inner));
                } else {
                    inner.set(p, Undefined.because("parameter " + Values.repr(p) + " was not provided"));
                }
            }
            if (!parameters.contains("caller") && extraKeywords.containsKey("caller")) inner.set("caller", extraKeywords.remove("caller"));
            inner.set("varargs", new Tuple(args.rest(parameters.size())));
            inner.set("kwargs", new LinkedHashMap<Object, Object>(extraKeywords));
            StringBuilder text = new StringBuilder();
            try {
                Node.renderAll(body, inner, text);
            } catch (TemplateError e) {
                throw e.atLine(line);
            }
            return text.toString();
        }
    }
}
