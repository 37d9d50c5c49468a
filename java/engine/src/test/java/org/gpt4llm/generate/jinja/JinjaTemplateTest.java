package org.gpt4llm.generate.jinja;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The engine's own contract: errors that name template and line, what it refuses, and its Java side. */
class JinjaTemplateTest {
    static String render(String template, Map<String, ?> vars) {
        return Template.compile(template, "chat template").render(vars);
    }

    @Test
    void expressionsAsJinja2EvaluatesThem() {
        Map<String, Object> vars = Map.of("xs", List.of(3, 1, 2), "m", Map.of("role", "user"), "s", "  Ab c ");
        String[][] cases = { // each expected text is what Jinja2 3.1 renders
                {"{{ xs[1:] }}|{{ xs[-1] }}|{{ xs[::-1] | join(',') }}", "[1, 2]|2|2,1,3"},
                {"{{ 7 // 2 }} {{ 7 % 3 }} {{ 1 + 2 * 3 }} {{ 1 ~ 2 * 3 }} {{ 2 ~ 3 + 4 ~ 5 }} {{ -3 + 1 }}", "3 1 7 16 2345 -2"},
                {"{{ m.role == 'user' and not m.missing is defined }} {{ 'x' if m.missing else 'y' }}", "True y"},
                {"{{ 'b' in 'abc' }} {{ 4 not in xs }} {{ xs | length }} {{ s | trim | upper }} {{ s.strip().lower() }}",
                        "True True 3 AB C ab c"},
                {"{% for k, v in m.items() %}{{ k }}={{ v }}{% endfor %}", "role=user"},
                {"{% for x in xs if x > 1 %}{{ loop.index }}:{{ x }}{{ ',' if not loop.last }}{% endfor %}", "1:3,2:2"},
                {"{% set y = 1 %}{% for x in xs %}{% set y = x %}{% endfor %}{{ y }}", "1"},
                {"a  {%- if true -%}  b  {%- endif %}\n  c", "ab  c"},
                {"{{ none }} {{ missing }}|{{ missing | default('d') }} {{ {'a': [1, 2.5]} | tojson }}", "None |d {\"a\": [1, 2.5]}"},
                {"{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "6"},
        };
        for (String[] c : cases) assertEquals(c[1], render(c[0], vars), c[0]);
    }

    @Test
    void errorsNameTheTemplateAndTheLine() {
        TemplateError e = assertThrows(TemplateError.class, () -> render("a\n{% if x %}\n{{ x.y.z }}\n{% endif %}", Map.of("x", Map.of("k", 1))));
        assertEquals("chat template line 3: 'dict object' has no attribute 'y'", e.getMessage());
        assertEquals(3, e.line());
        e = assertThrows(TemplateError.class, () -> Template.compile("line one\n{% for m in messages %}\n{{ m }}", "chat template"));
        assertEquals("chat template line 2: missing {% endfor %}: the {% for %} here is never closed", e.getMessage());
        e = assertThrows(TemplateError.class, () -> Template.compile("{{ 'a' | nosuch }}"));
        assertEquals("template line 1: no filter named 'nosuch'", e.getMessage());
        e = assertThrows(TemplateError.class, () -> render("{% for x in xs %}\n{{ x + 1 }}{% endfor %}", Map.of("xs", List.of("a"))));
        assertEquals("chat template line 2: can only concatenate str (not \"int\") to str", e.getMessage());
    }

    @Test
    void theTemplatesOwnRefusalIsItsSentence() {
        TemplateError e = assertThrows(TemplateError.class,
                () -> render("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                        Map.of("messages", List.of(Map.of("role", "system", "content", "x")))));
        assertTrue(e.raisedByTemplate());
        assertEquals("System role not supported", e.detail());
        assertEquals("the chat template refused the conversation: System role not supported", e.getMessage());
    }

    @Test
    void unsupportedConstructsAreNamedWhenCompiled() {
        String[][] cases = {
                {"{% include 'x.jinja' %}", "unsupported Jinja construct {% include %}"},
                {"{% extends 'base' %}", "unsupported Jinja construct {% extends %}"},
                {"{% import 'forms.html' as forms %}", "unsupported Jinja construct {% import %}"},
                {"{% block title %}x{% endblock %}", "unsupported Jinja construct {% block %}"},
                {"{% for x in xs recursive %}{{ loop(x) }}{% endfor %}", "unsupported Jinja construct: recursive loops"},
                {"{{ s | truncate(3) }}", "unsupported Jinja construct: filter 'truncate'"},
                {"{{ cycler('a', 'b').next() }}", "unsupported Jinja construct: cycler()"},
                {"{{ f(a=1, 2) }}", "invalid syntax for function call expression"},
                {"{% break %}", "{% break %} outside a loop"},
                {"{% endif %}", "{% endif %} has no opening tag"},
                {"{% frobnicate %}", "unknown tag {% frobnicate %}"},
                {"{{ x is divisibleby }}", "missing required argument"},
        };
        for (String[] c : cases) {
            TemplateError e = assertThrows(TemplateError.class, () -> Template.compile(c[0]).render(Map.of("xs", List.of(), "s", "abc")), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
        }
        TemplateError e = assertThrows(TemplateError.class, () -> render("{{ 'a'.zfill(3) }}{{ 'a'.format() }}", Map.of()));
        assertEquals("chat template line 1: unsupported Jinja construct: method .format() of a str", e.getMessage());
    }

    @Test
    void strftimeNowFormatsAsPythonsStrftime() {
        LocalDateTime t = LocalDateTime.of(2025, 3, 5, 14, 7, 9);
        String[][] cases = { // datetime(2025, 3, 5, 14, 7, 9).strftime(format)
                {"%d %b %Y", "05 Mar 2025"},
                {"%A %B %-d %H:%M:%S %p %j %y %I", "Wednesday March 5 14:07:09 PM 064 25 02"},
                {"%a %e %m %w %F %T %%", "Wed  5 03 3 2025-03-05 14:07:09 %"},
        };
        for (String[] c : cases) {
            assertEquals(c[1], Template.compile("{{ strftime_now('" + c[0] + "') }}").render(Map.of(), () -> t), c[0]);
        }
        assertEquals("12 AM 364 Sun 12", Globals.strftime("%I %p %j %a %-m", LocalDateTime.of(2024, 12, 29, 0, 5, 0)));
        TemplateError e = assertThrows(TemplateError.class, () -> Globals.strftime("%G", t));
        assertEquals("unsupported strftime directive %G", e.detail());
    }

    @Test
    void javaValuesAreReadAsPythonValues() {
        Map<String, Object> vars = Map.of("i", 3, "f", 1.5f, "arr", new Object[] {1, "a"}, "set", List.of(true, 'c'));
        assertEquals("3 1.5 [1, 'a'] [True, 'c'] True", render("{{ i }} {{ f }} {{ arr }} {{ set }} {{ i is integer }}", vars));
        TemplateError e = assertThrows(TemplateError.class, () -> render("{{ x }}", Map.of("x", new StringBuilder("no"))));
        assertTrue(e.getMessage().contains("a StringBuilder cannot be given to a template"), e.getMessage());
    }

    @Test
    void renderingTwiceGivesTheSameTextAndChangesNoInput() {
        Template t = Template.compile("{% set ns = namespace(n=0) %}{% set j = joiner() %}{% for x in xs %}{{ j() }}{% set ns.n = ns.n + 1 %}{{ x }}{% endfor %}:{{ ns.n }}");
        List<Object> xs = new java.util.ArrayList<>(List.of(1, 2));
        assertEquals("1, 2:2", t.render(Map.of("xs", xs)));
        assertEquals("1, 2:2", t.render(Map.of("xs", xs)));
        assertEquals(List.of(1, 2), xs);
        TemplateError e = assertThrows(TemplateError.class, () -> render("{{ xs.append(3) }}", Map.of("xs", xs)));
        assertEquals("chat template line 1: access to attribute 'append' of 'list' object is unsafe", e.getMessage());
    }

    @Test
    void endlessMacroRecursionIsAnError() {
        TemplateError e = assertThrows(TemplateError.class, () -> render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Map.of()));
        assertFalse(e.raisedByTemplate());
        assertEquals("chat template: macros call each other too deeply", e.getMessage());
    }
}
