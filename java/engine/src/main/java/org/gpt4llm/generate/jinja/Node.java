package org.gpt4llm.generate.jinja;

import java.util.List;

/** A statement of a template (text, {@code {{ }}}, a block tag and what it encloses), rendered into {@code out}. */
@FunctionalInterface
interface Node {
    void render(Scope scope, StringBuilder out);

    static void renderAll(List<Node> nodes, Scope scope, StringBuilder out) {
        for (Node n : nodes) n.render(scope, out);
    }
}
