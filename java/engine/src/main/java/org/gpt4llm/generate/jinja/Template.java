package org.gpt4llm.generate.jinja;

import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A Jinja template as Hugging Face chat templates use Jinja, rendered the way transformers'
 * {@code apply_chat_template} renders it: Jinja2's sandbox with trim_blocks and lstrip_blocks, the loop controls
 * {@code break} and {@code continue}, the {@code {% generation %}} tag, {@code tojson} as {@code json.dumps} keeping
 * non-ASCII text, and the globals {@code raise_exception} and {@code strftime_now}. Values behave as in Python
 * (strings, lists, dicts and their methods, None, True, undefined variables).
 *
 * <p>What this engine lacks (template inheritance, includes and imports, recursive loops, some filters and
 * string methods) fails with a {@link TemplateError} naming it: when the template is compiled if it is a tag or a
 * filter, else when it is reached.
 */
public final class Template {
    private final List<Node> body;
    private final String name;

    private Template(List<Node> body, String name) {
        this.body = body;
        this.name = name;
    }

    public static Template compile(String source) {
        return compile(source, "template");
    }

    /** {@code name} is how errors refer to the template ("chat template line 3: ..."). */
    public static Template compile(String source, String name) {
        try {
            return new Template(Parser.parse(Lexer.tokenize(source)), name);
        } catch (TemplateError e) {
            throw e.in(name);
        }
    }

    /** The text for {@code variables} (strings, numbers, booleans, null, lists and maps of these). */
    public String render(Map<String, ?> variables) {
        return render(variables, LocalDateTime::now);
    }

    /** As {@link #render(Map)}, with {@code now} as the time {@code strftime_now} formats. */
    String render(Map<String, ?> variables, Supplier<LocalDateTime> now) {
        Scope scope = Globals.create(now).child();
        StringBuilder out = new StringBuilder();
        try {
            variables.forEach((k, v) -> scope.set(k, Values.fromJava(v)));
            Node.renderAll(body, scope, out);
        } catch (TemplateError e) {
            throw e.in(name);
        } catch (StackOverflowError e) {
            throw new TemplateError("macros call each other too deeply", false, null).in(name);
        }
        return out.toString();
    }
}
