package org.gpt4llm.generate.jinja;

import java.util.List;
import org.gpt4llm.generate.jinja.Token.Kind;

/** The parser's cursor over the tokens of a template. */
final class TokenStream {
    private final List<Token> tokens;
    private int pos;

    TokenStream(List<Token> tokens) {
        this.tokens = tokens;
    }

    Token current() {
        return tokens.get(pos);
    }

    Token peek() {
        return tokens.get(Math.min(pos + 1, tokens.size() - 1));
    }

    Token next() {
        Token t = tokens.get(pos);
        if (pos < tokens.size() - 1) pos++;
        return t;
    }

    boolean at(Kind kind) {
        return current().kind() == kind;
    }

    boolean atOperator(String op) {
        return current().isOperator(op);
    }

    boolean atName(String name) {
        return current().isName(name);
    }

    boolean skipOperator(String op) {
        if (!atOperator(op)) return false;
        next();
        return true;
    }

    boolean skipName(String name) {
        if (!atName(name)) return false;
        next();
        return true;
    }

    Token expect(Kind kind, String what) {
        if (!at(kind)) throw error("expected " + what + ", got " + current().describe());
        return next();
    }

    void expectOperator(String op) {
        if (!skipOperator(op)) throw error("expected '" + op + "', got " + current().describe());
    }

    void expectName(String name) {
        if (!skipName(name)) throw error("expected '" + name + "', got " + current().describe());
    }

    String name() {
        return (String) expect(Kind.NAME, "a name").value();
    }

    TemplateError error(String message) {
        return new TemplateError(message).atLine(current().line());
    }
}
