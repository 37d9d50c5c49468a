package org.gpt4llm.generate.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.gpt4llm.generate.jinja.Statements.Target;
import org.gpt4llm.generate.jinja.Token.Kind;

/**
 * Builds the statement tree of a template: text, {@code {{ }}}, and the tags {@code if/elif/else}, {@code for}
 * (with a filter, {@code else}, {@code break} and {@code continue}), {@code set} (also of {@code ns.attr} and as a
 * block), {@code macro} and {@code call}, {@code filter}, {@code with}, {@code print} and transformers'
 * {@code generation}.
 */
final class Parser {
    /** Jinja tags this engine does not have: a template that uses one fails when compiled, naming it. */
    private static final Set<String> UNSUPPORTED = Set.of("block", "extends", "include", "import", "from", "autoescape",
            "do", "trans");

    private final TokenStream in;
    private final ExpressionParser expressions;
    private int loopDepth;

    private Parser(List<Token> tokens) {
        in = new TokenStream(tokens);
        expressions = new ExpressionParser(in);
    }

    static List<Node> parse(List<Token> tokens) {
        return new Parser(tokens).body(Set.of(), null, 0);
    }

    /**
     * Statements up to a block tag whose keyword is one of {@code ends}; that keyword is left current. {@code opening}
     * (the tag that needs the end, on {@code openLine}) names what is missing when the template ends first.
     */
    private List<Node> body(Set<String> ends, String opening, int openLine) {
        List<Node> nodes = new ArrayList<>();
        while (true) {
            Token t = in.current();
            switch (t.kind()) {
                case DATA -> {
                    in.next();
                    nodes.add(new Statements.Text(t.text()));
                }
                case VARIABLE_BEGIN -> {
                    in.next();
                    Expr value = expressions.tuple(true, Set.of());
                    in.expect(Kind.VARIABLE_END, "'}}'");
                    nodes.add(new Statements.Output(value, t.line()));
                }
                case BLOCK_BEGIN -> {
                    in.next();
                    if (in.at(Kind.NAME) && ends.contains(in.current().text())) return nodes;
                    nodes.add(statement());
                    in.expect(Kind.BLOCK_END, "'%}'");
                }
                case END -> {
                    if (ends.isEmpty()) return nodes;
                    String closer = ends.stream().filter(e -> e.startsWith("end")).findFirst().orElseThrow();
                    throw new TemplateError("missing {% " + closer + " %}: the " + opening + " here is never closed").atLine(openLine);
                }
                default -> throw in.error("unexpected " + t.describe());
            }
        }
    }

    /** The %} of a tag, then its body up to one of {@code ends}. */
    private List<Node> block(Set<String> ends, String opening, int line) {
        in.expect(Kind.BLOCK_END, "'%}' to end the " + opening + " tag");
        return body(ends, opening, line);
    }

    /** A body that ends with {@code {% end %}}, whose keyword is consumed. */
    private List<Node> blockUntil(String end, String opening, int line) {
        List<Node> nodes = block(Set.of(end), opening, line);
        in.next();
        return nodes;
    }

    private Node statement() {
        Token keyword = in.current();
        if (keyword.kind() != Kind.NAME) throw in.error("expected a tag name after '{%', got " + keyword.describe());
        in.next();
        int line = keyword.line();
        String k = keyword.text();
        return switch (k) {
            case "if" -> ifStatement(line);
            case "for" -> forStatement(line);
            case "set" -> set(line);
            case "macro" -> macro(line);
            case "call" -> callBlock(line);
            case "filter" -> new Statements.Captured(null, expressions.filters(new Expressions.Name(Statements.BLOCK_TEXT), true),
                    blockUntil("endfilter", "{% filter %}", line), line);
            case "with" -> with(line);
            case "print" -> new Statements.Output(expressions.tuple(true, Set.of()), line);
            case "generation" -> new Statements.Block(blockUntil("endgeneration", "{% generation %}", line));
            case "break", "continue" -> {
                if (loopDepth == 0) throw new TemplateError("{% " + k + " %} outside a loop").atLine(line);
                yield new Statements.Jump(k.equals("break") ? Statements.LoopControl.BREAK : Statements.LoopControl.CONTINUE);
            }
            default -> {
                if (UNSUPPORTED.contains(k)) throw new TemplateError("unsupported Jinja construct {% " + k + " %}").atLine(line);
                if (k.startsWith("end") || k.equals("elif") || k.equals("else")) {
                    throw new TemplateError("{% " + k + " %} has no opening tag").atLine(line);
                }
                throw new TemplateError("unknown tag {% " + k + " %}").atLine(line);
            }
        };
    }

    private Node ifStatement(int line) {
        List<Expr> conditions = new ArrayList<>();
        List<List<Node>> bodies = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        Set<String> ends = Set.of("elif", "else", "endif");
        conditions.add(expressions.tuple(false, Set.of()));
        lines.add(line);
        bodies.add(block(ends, "{% if %}", line));
        while (true) {
            Token k = in.next();
            switch (k.text()) {
                case "elif" -> {
                    conditions.add(expressions.tuple(false, Set.of()));
                    lines.add(k.line());
                    bodies.add(block(ends, "{% if %}", line));
                }
                case "else" -> {
                    lines.add(k.line());
                    bodies.add(blockUntil("endif", "{% if %}", line));
                    return new Statements.If(conditions, bodies, lines);
                }
                default -> {
                    return new Statements.If(conditions, bodies, lines);
                }
            }
        }
    }

    private Node forStatement(int line) {
        Target target = names(Set.of("in"));
        in.expectName("in");
        Expr iterable = expressions.tuple(false, Set.of("recursive"));
        Expr filter = in.skipName("if") ? expressions.expression() : null;
        if (in.atName("recursive")) throw in.error("unsupported Jinja construct: recursive loops");
        loopDepth++;
        List<Node> body = block(Set.of("endfor", "else"), "{% for %}", line);
        loopDepth--;
        List<Node> otherwise = List.of();
        if (in.next().text().equals("else")) otherwise = blockUntil("endfor", "{% for %}", line);
        return new Statements.For(target, iterable, filter, body, otherwise, line);
    }

    /** Names to assign to: {@code x}, {@code a, b} or {@code (a, b)}. */
    private Target names(Set<String> endNames) {
        List<String> names = new ArrayList<>();
        boolean parenthesised = in.skipOperator("(");
        names.add(in.name());
        while (in.skipOperator(",")) {
            Token t = in.current();
            if (t.isOperator(")") || t.isOperator("=") || t.kind() == Kind.BLOCK_END || endNames.contains(t.text())) break;
            names.add(in.name());
        }
        if (parenthesised) in.expectOperator(")");
        return Target.of(names);
    }

    private Node set(int line) {
        Target target;
        if (in.at(Kind.NAME) && in.peek().isOperator(".")) {
            String namespace = in.name();
            in.next();
            target = new Target(List.of(), namespace, in.name());
        } else {
            target = names(Set.of());
        }
        if (in.skipOperator("=")) return new Statements.Assign(target, expressions.tuple(true, Set.of()), line);
        Expr filters = in.atOperator("|") ? expressions.filters(new Expressions.Name(Statements.BLOCK_TEXT), false) : null;
        return new Statements.Captured(target, filters, blockUntil("endset", "{% set %}", line), line);
    }

    /** The {@code (a, b=default)} of a macro or call block. */
    private void signature(List<String> parameters, List<Expr> defaults) {
        in.expectOperator("(");
        while (!in.atOperator(")")) {
            if (!parameters.isEmpty()) in.expectOperator(",");
            parameters.add(in.name());
            if (in.skipOperator("=")) defaults.add(expressions.expression());
            else if (!defaults.isEmpty()) throw in.error("non-default argument follows default argument");
        }
        in.expectOperator(")");
    }

    /** A macro's body: a break in it cannot leave the loop the macro is called from. */
    private List<Node> macroBody(String end, String opening, int line) {
        int outerLoops = loopDepth;
        loopDepth = 0;
        List<Node> body = blockUntil(end, opening, line);
        loopDepth = outerLoops;
        return body;
    }

    private Node macro(int line) {
        String name = in.name();
        List<String> parameters = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        signature(parameters, defaults);
        return new Statements.Macro(name, parameters, defaults, macroBody("endmacro", "{% macro %}", line), line);
    }

    /** {@code {% call [(params)] m(args) %}body{% endcall %}}: m's output, where m's {@code caller()} renders the body. */
    private Node callBlock(int line) {
        List<String> parameters = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        if (in.atOperator("(")) signature(parameters, defaults);
        if (!(expressions.expression() instanceof Expressions.Call call)) {
            throw new TemplateError("{% call %} needs a call, as in {% call m(x) %}").atLine(line);
        }
        Statements.Macro caller = new Statements.Macro("caller", parameters, defaults, macroBody("endcall", "{% call %}", line), line);
        return new Statements.Output(new Expressions.Call(call.function(), call.callee(),
                call.arguments().with("caller", caller::function)), line);
    }

    private Node with(int line) {
        List<Target> targets = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (!in.at(Kind.BLOCK_END)) {
            if (!targets.isEmpty()) in.expectOperator(",");
            targets.add(Target.of(List.of(in.name())));
            in.expectOperator("=");
            values.add(expressions.expression());
        }
        return new Statements.With(targets, values, blockUntil("endwith", "{% with %}", line), line);
    }
}
