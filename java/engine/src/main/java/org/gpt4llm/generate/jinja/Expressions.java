package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The expression nodes the parser builds; what each operation means for a value is in {@link Operators}. */
final class Expressions {
    private Expressions() {}

    record Constant(Object value) implements Expr {
        public Object eval(Scope s) {
            return value;
        }
    }

    record Name(String name) implements Expr {
        public Object eval(Scope s) {
            return s.get(name);
        }
    }

    record ListOf(List<Expr> items) implements Expr {
        public Object eval(Scope s) {
            return evalAll(items, s);
        }
    }

    record TupleOf(List<Expr> items) implements Expr {
        public Object eval(Scope s) {
            return new Tuple(evalAll(items, s));
        }
    }

    record DictOf(List<Expr> keys, List<Expr> values) implements Expr {
        public Object eval(Scope s) {
            Map<Object, Object> m = new LinkedHashMap<>();
            for (int i = 0; i < keys.size(); i++) m.put(keys.get(i).eval(s), values.get(i).eval(s));
            return m;
        }
    }

    /** {@code a.b}: an attribute first (a method of a str, list or dict), then an item. */
    record Attribute(Expr object, String name) implements Expr {
        public Object eval(Scope s) {
            return Operators.attribute(object.eval(s), name);
        }
    }

    /** {@code a[b]}: an item first, then an attribute. */
    record Item(Expr object, Expr key) implements Expr {
        public Object eval(Scope s) {
            return Operators.item(object.eval(s), key.eval(s));
        }
    }

    record Slice(Expr object, Expr start, Expr stop, Expr step) implements Expr {
        public Object eval(Scope s) {
            return Operators.slice(object.eval(s), orNull(start, s), orNull(stop, s), orNull(step, s));
        }
    }

    /** The arguments written in a call: {@code (a, b, *more, key=c, **others)}. */
    record CallArguments(List<Expr> args, Map<String, Expr> kwargs, Expr spreadArgs, Expr spreadKwargs) {
        static final CallArguments NONE = new CallArguments(List.of(), Map.of(), null, null);

        Arguments eval(String callee, Scope s) {
            List<Object> positional = evalAll(args, s);
            if (spreadArgs != null) positional.addAll(Operators.iterate(spreadArgs.eval(s)));
            Map<String, Object> named = new LinkedHashMap<>();
            kwargs.forEach((k, e) -> named.put(k, e.eval(s)));
            if (spreadKwargs != null) {
                if (!(spreadKwargs.eval(s) instanceof Map<?, ?> more)) throw new TemplateError("argument after ** must be a mapping");
                for (Map.Entry<?, ?> e : more.entrySet()) {
                    if (!(e.getKey() instanceof String key)) throw new TemplateError("keywords must be strings");
                    if (named.put(key, e.getValue()) != null || kwargs.containsKey(key)) {
                        throw new TemplateError(callee + "() got multiple values for keyword argument '" + key + "'");
                    }
                }
            }
            return new Arguments(callee, positional, named);
        }

        CallArguments with(String keyword, Expr value) {
            Map<String, Expr> more = new LinkedHashMap<>(kwargs);
            more.put(keyword, value);
            return new CallArguments(args, more, spreadArgs, spreadKwargs);
        }
    }

    record Call(Expr function, String callee, CallArguments arguments) implements Expr {
        public Object eval(Scope s) {
            return Operators.call(function.eval(s), arguments.eval(callee, s));
        }
    }

    record Filter(Expr input, String name, CallArguments arguments) implements Expr {
        public Object eval(Scope s) {
            return Filters.apply(name, input.eval(s), arguments.eval(name, s));
        }
    }

    record Test(Expr input, String name, CallArguments arguments) implements Expr {
        public Object eval(Scope s) {
            return Tests.apply(name, input.eval(s), arguments.eval(name, s));
        }
    }

    record Binary(String op, Expr left, Expr right) implements Expr {
        public Object eval(Scope s) {
            return Operators.binary(op, left.eval(s), right.eval(s));
        }
    }

    record Unary(String op, Expr operand) implements Expr {
        public Object eval(Scope s) {
            return Operators.unary(op, operand.eval(s));
        }
    }

    /** {@code a ~ b ~ c}: the values as text, joined. */
    record Concat(List<Expr> parts) implements Expr {
        public Object eval(Scope s) {
            StringBuilder sb = new StringBuilder();
            for (Expr e : parts) sb.append(Values.str(e.eval(s)));
            return sb.toString();
        }
    }

    /** {@code a < b <= c}, chained as in Python: each comparison with the next operand, all must hold. */
    record Compare(Expr first, List<String> ops, List<Expr> operands) implements Expr {
        public Object eval(Scope s) {
            Object left = first.eval(s);
            for (int i = 0; i < ops.size(); i++) {
                Object right = operands.get(i).eval(s);
                if (!Operators.compare(ops.get(i), left, right)) return false;
                left = right;
            }
            return true;
        }
    }

    record And(Expr left, Expr right) implements Expr {
        public Object eval(Scope s) {
            Object l = left.eval(s);
            return Values.truthy(l) ? right.eval(s) : l;
        }
    }

    record Or(Expr left, Expr right) implements Expr {
        public Object eval(Scope s) {
            Object l = left.eval(s);
            return Values.truthy(l) ? l : right.eval(s);
        }
    }

    record Not(Expr operand) implements Expr {
        public Object eval(Scope s) {
            return !Values.truthy(operand.eval(s));
        }
    }

    /** {@code a if c else b}; without else, an undefined value when c is false. */
    record Conditional(Expr condition, Expr then, Expr otherwise) implements Expr {
        public Object eval(Scope s) {
            if (Values.truthy(condition.eval(s))) return then.eval(s);
            return otherwise == null ? Undefined.because("the inline if-expression evaluated to false and has no else section") : otherwise.eval(s);
        }
    }

    static List<Object> evalAll(List<Expr> items, Scope s) {
        List<Object> r = new ArrayList<>(items.size());
        for (Expr e : items) r.add(e.eval(s));
        return r;
    }

    private static Object orNull(Expr e, Scope s) {
        return e == null ? null : e.eval(s);
    }
}
