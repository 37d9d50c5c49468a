package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.generate.jinja.Expressions.Attribute;
import org.gpt4llm.generate.jinja.Expressions.Call;
import org.gpt4llm.generate.jinja.Expressions.Constant;
import org.gpt4llm.generate.jinja.Expressions.Item;
import org.gpt4llm.generate.jinja.Expressions.Name;
import org.gpt4llm.generate.jinja.Token.Kind;

/**
 * Jinja's expression grammar, loosest binding first: {@code x if c else y}, or, and, not, comparisons and
 * {@code in}, {@code + -}, {@code ~}, {@code * / // %}, {@code **}, unary {@code - +}, then a primary with its
 * postfixes ({@code .a}, {@code [i]}, {@code [a:b]}, calls), filters ({@code | f}) and tests ({@code is t}).
 */
final class ExpressionParser {
    private static final Set<String> COMPARISONS = Set.of("==", "!=", "<", "<=", ">", ">=");
    private final TokenStream in;

    ExpressionParser(TokenStream in) {
        this.in = in;
    }

    Expr expression() {
        return conditional();
    }

    /**
     * Comma separated expressions, a tuple when there is a comma: {@code {{ a, b }}}, {@code {% set x = a, b %}}.
     * {@code endNames} end the list early (the {@code if} of a for loop's filter).
     */
    Expr tuple(boolean conditional, Set<String> endNames) {
        List<Expr> items = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!items.isEmpty()) in.expectOperator(",");
            if (tupleEnds(endNames)) break;
            items.add(conditional ? conditional() : or());
            if (!in.atOperator(",")) break;
            isTuple = true;
        }
        if (isTuple) return new Expressions.TupleOf(items);
        if (items.isEmpty()) throw in.error("expected an expression, got " + in.current().describe());
        return items.get(0);
    }

    private boolean tupleEnds(Set<String> endNames) {
        Token t = in.current();
        return t.kind() == Kind.VARIABLE_END || t.kind() == Kind.BLOCK_END || t.kind() == Kind.END || t.isOperator(")")
                || (t.kind() == Kind.NAME && endNames.contains(t.text()));
    }

    private Expr conditional() {
        Expr e = or();
        while (in.skipName("if")) {
            Expr condition = or();
            Expr otherwise = in.skipName("else") ? conditional() : null;
            e = new Expressions.Conditional(condition, e, otherwise);
        }
        return e;
    }

    private Expr or() {
        Expr e = and();
        while (in.skipName("or")) e = new Expressions.Or(e, and());
        return e;
    }

    private Expr and() {
        Expr e = not();
        while (in.skipName("and")) e = new Expressions.And(e, not());
        return e;
    }

    private Expr not() {
        if (in.skipName("not")) return new Expressions.Not(not());
        return comparison();
    }

    private Expr comparison() {
        Expr first = sum();
        List<String> ops = new ArrayList<>();
        List<Expr> operands = new ArrayList<>();
        while (true) {
            Token t = in.current();
            if (t.kind() == Kind.OPERATOR && COMPARISONS.contains(t.text())) {
                in.next();
                ops.add(t.text());
            } else if (in.skipName("in")) {
                ops.add("in");
            } else if (t.isName("not") && in.peek().isName("in")) {
                in.next();
                in.next();
                ops.add("not in");
            } else {
                break;
            }
            operands.add(sum());
        }
        return ops.isEmpty() ? first : new Expressions.Compare(first, ops, operands);
    }

    private Expr sum() {
        Expr e = concat();
        while (in.atOperator("+") || in.atOperator("-")) {
            String op = in.next().text();
            e = new Expressions.Binary(op, e, concat());
        }
        return e;
    }

    private Expr concat() {
        List<Expr> parts = new ArrayList<>(List.of(product()));
        while (in.skipOperator("~")) parts.add(product());
        return parts.size() == 1 ? parts.get(0) : new Expressions.Concat(parts);
    }

    private Expr product() {
        Expr e = power();
        while (in.atOperator("*") || in.atOperator("/") || in.atOperator("//") || in.atOperator("%")) {
            String op = in.next().text();
            e = new Expressions.Binary(op, e, power());
        }
        return e;
    }

    private Expr power() {
        Expr e = unary(true);
        while (in.skipOperator("**")) e = new Expressions.Binary("**", e, unary(true));
        return e;
    }

    /** A unary minus binds looser than postfixes and tighter than filters: {@code -x|abs} is abs(-x). */
    private Expr unary(boolean withFilters) {
        Expr e;
        if (in.atOperator("-") || in.atOperator("+")) {
            String op = in.next().text();
            e = new Expressions.Unary(op, unary(false));
        } else {
            e = primary();
        }
        e = postfix(e);
        return withFilters ? filtersAndTests(e) : e;
    }

    private Expr primary() {
        Token t = in.next();
        switch (t.kind()) {
            case NAME -> {
                return switch (t.text()) {
                    case "true", "True" -> new Constant(true);
                    case "false", "False" -> new Constant(false);
                    case "none", "None" -> new Constant(null);
                    default -> new Name(t.text());
                };
            }
            case STRING -> {
                StringBuilder sb = new StringBuilder((String) t.value());
                while (in.at(Kind.STRING)) sb.append((String) in.next().value()); // 'a' 'b' is 'ab'
                return new Constant(sb.toString());
            }
            case INTEGER, FLOAT -> {
                return new Constant(t.value());
            }
            case OPERATOR -> {
                switch (t.text()) {
                    case "(" -> {
                        if (in.skipOperator(")")) return new Expressions.TupleOf(List.of());
                        Expr e = tuple(true, Set.of());
                        in.expectOperator(")");
                        return e;
                    }
                    case "[" -> {
                        List<Expr> items = new ArrayList<>();
                        while (!in.atOperator("]")) {
                            if (!items.isEmpty()) in.expectOperator(",");
                            if (in.atOperator("]")) break;
                            items.add(expression());
                        }
                        in.expectOperator("]");
                        return new Expressions.ListOf(items);
                    }
                    case "{" -> {
                        List<Expr> keys = new ArrayList<>(), values = new ArrayList<>();
                        while (!in.atOperator("}")) {
                            if (!keys.isEmpty()) in.expectOperator(",");
                            if (in.atOperator("}")) break;
                            keys.add(expression());
                            in.expectOperator(":");
                            values.add(expression());
                        }
                        in.expectOperator("}");
                        return new Expressions.DictOf(keys, values);
                    }
                    default -> { }
                }
            }
            default -> { }
        }
        throw new TemplateError("unexpected " + t.describe()).atLine(t.line());
    }

    private Expr postfix(Expr e) {
        while (true) {
            if (in.skipOperator(".")) {
                Token t = in.next();
                if (t.kind() == Kind.NAME) e = new Attribute(e, t.text());
                else if (t.kind() == Kind.INTEGER) e = new Item(e, new Constant(t.value()));
                else throw new TemplateError("expected a name or a number after '.', got " + t.describe()).atLine(t.line());
            } else if (in.skipOperator("[")) {
                List<Expr> subscripts = new ArrayList<>();
                while (!in.atOperator("]")) {
                    if (!subscripts.isEmpty()) in.expectOperator(",");
                    subscripts.add(subscript(e));
                }
                in.expectOperator("]");
                if (subscripts.size() != 1) {
                    e = new Item(e, new Expressions.TupleOf(subscripts));
                } else {
                    e = subscripts.get(0) instanceof Expressions.Slice slice ? slice : new Item(e, subscripts.get(0));
                }
            } else if (in.atOperator("(")) {
                e = call(e);
            } else {
                return e;
            }
        }
    }

    /** One subscript: an index, or a slice of {@code object} ({@code a:b}, {@code :b}, {@code a::c}...). */
    private Expr subscript(Expr object) {
        Expr start = null;
        if (!in.atOperator(":")) {
            start = expression();
            if (!in.atOperator(":")) return start;
        }
        in.expectOperator(":");
        Expr stop = in.atOperator(":") || in.atOperator("]") || in.atOperator(",") ? null : expression();
        Expr step = null;
        if (in.skipOperator(":") && !in.atOperator("]") && !in.atOperator(",")) step = expression();
        return new Expressions.Slice(object, start, stop, step);
    }

    Expr call(Expr function) {
        String callee = function instanceof Name n ? n.name() : function instanceof Attribute a ? a.name() : "the function";
        return new Call(function, callee, arguments());
    }

    /** {@code (a, b, *more, key=c, **others)}, the opening parenthesis next. */
    private Expressions.CallArguments arguments() {
        List<Expr> args = new ArrayList<>();
        Map<String, Expr> kwargs = new LinkedHashMap<>();
        Expr spreadArgs = null, spreadKwargs = null;
        Token open = in.current();
        in.expectOperator("(");
        boolean first = true;
        while (!in.atOperator(")")) {
            if (!first) {
                in.expectOperator(",");
                if (in.atOperator(")")) break;
            }
            first = false;
            if (in.skipOperator("*")) {
                if (spreadArgs != null || spreadKwargs != null) throw invalidCall(open);
                spreadArgs = expression();
            } else if (in.skipOperator("**")) {
                if (spreadKwargs != null) throw invalidCall(open);
                spreadKwargs = expression();
            } else if (in.at(Kind.NAME) && in.peek().isOperator("=")) {
                if (spreadKwargs != null) throw invalidCall(open);
                String key = in.next().text();
                in.next();
                kwargs.put(key, expression());
            } else {
                if (!kwargs.isEmpty() || spreadArgs != null || spreadKwargs != null) throw invalidCall(open);
                args.add(expression());
            }
        }
        in.expectOperator(")");
        return new Expressions.CallArguments(args, kwargs, spreadArgs, spreadKwargs);
    }

    private static TemplateError invalidCall(Token open) {
        return new TemplateError("invalid syntax for function call expression").atLine(open.line());
    }

    /** {@code | f(args)} and {@code is [not] t(args)}, then more postfixes, left to right. */
    private Expr filtersAndTests(Expr e) {
        while (true) {
            if (in.atOperator("|")) {
                e = filters(e, false);
            } else if (in.skipName("is")) {
                boolean negated = in.skipName("not");
                Token name = in.current();
                String test = in.name();
                String problem = Tests.problem(test);
                if (problem != null) throw new TemplateError(problem).atLine(name.line());
                Expressions.CallArguments args = Expressions.CallArguments.NONE;
                if (in.atOperator("(")) {
                    args = arguments();
                } else if (testArgumentFollows()) { // is divisibleby 3, is sameas none
                    args = new Expressions.CallArguments(List.of(postfix(primary())), Map.of(), null, null);
                }
                e = new Expressions.Test(e, test, args);
                if (negated) e = new Expressions.Not(e);
            } else if (in.atOperator("(")) {
                e = call(e);
            } else {
                return e;
            }
        }
    }

    private boolean testArgumentFollows() {
        Token t = in.current();
        boolean starts = switch (t.kind()) {
            case NAME, STRING, INTEGER, FLOAT -> true;
            case OPERATOR -> t.text().equals("[") || t.text().equals("{");
            default -> false;
        };
        return starts && !t.isName("else") && !t.isName("or") && !t.isName("and") && !t.isName("is");
    }

    /**
     * A chain of filters applied to {@code input}: {@code | trim | upper}. With {@code first} the chain starts without
     * a bar ({@code {% filter upper %}}, {@code {% set x | trim %}}).
     */
    Expr filters(Expr input, boolean first) {
        Expr e = input;
        while (first || in.atOperator("|")) {
            if (!first) in.next();
            first = false;
            Token name = in.current();
            String filter = in.name();
            String problem = Filters.problem(filter);
            if (problem != null) throw new TemplateError(problem).atLine(name.line());
            e = new Expressions.Filter(e, filter, in.atOperator("(") ? arguments() : Expressions.CallArguments.NONE);
        }
        return e;
    }
}
