#!/usr/bin/env python3
"""Renders every chat template in this folder over a fixed set of conversations with Python's Jinja2, set up
the way transformers' apply_chat_template sets it up, and writes the results to goldens/<template>.json; and
renders small templates, one Jinja feature each, to goldens/jinja-features.json.

The build does not run this script: it records how the golden renderings were made. Rerun it (from any
directory, with jinja2 installed) after adding a template or a conversation:

    python3 generate_goldens.py

The environment mirrors transformers.utils.chat_template_utils._compile_jinja_template: an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension and the
{% generation %} tag, tojson as json.dumps with ensure_ascii=False, and the raise_exception and strftime_now
globals. The variables mirror its render call: messages, tools, documents, add_generation_prompt and the
tokenizer's special tokens.
"""

import datetime
import json
import pathlib

import jinja2
import jinja2.ext
import jinja2.sandbox
from jinja2 import nodes

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "goldens"


class GenerationTag(jinja2.ext.Extension):
    """transformers' {% generation %}...{% endgeneration %}: marks assistant text, renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.now().strftime(format)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# ---- conversations ----

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
USER_1 = {"role": "user", "content": "What is the capital of France?"}
ASSISTANT_1 = {"role": "assistant", "content": "The capital of France is Paris."}
USER_2 = {"role": "user", "content": "And of Germany?"}
UNICODE_SYSTEM = {"role": "system", "content": "  Réponds en français.\nSois «bref».  "}
UNICODE_USER = {"role": "user", "content": "  Grüße aus Köln — naïve café, 日本語, emoji 🙂🚀\n"
                                           "Second line\twith a tab, a \"quote\", an 'apostrophe' and a \\ backslash\n\n"
                                           "  {{ not a template }} {% neither %}  \n"}
UNICODE_ASSISTANT = {"role": "assistant", "content": "\nÇa va ! Voilà: ✓\r\nline two\u2028end\u00a0 "}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
WEATHER_CALL = {"role": "assistant", "content": "", "tool_calls": [{
    "id": "call12345", "type": "function",
    "function": {"name": "get_current_weather", "arguments": {"location": "Zürich", "unit": "celsius"}}}]}
WEATHER_RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_current_weather",
                  "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"}
WEATHER_QUESTION = {"role": "user", "content": "What is the weather in Zürich?"}

CASES = [
    ("user_only", [USER_1], True, {}),
    ("user_only_without_generation_prompt", [USER_1], False, {}),
    ("system_and_user", [SYSTEM, USER_1], True, {}),
    ("multi_turn", [USER_1, ASSISTANT_1, USER_2], True, {}),
    ("multi_turn_with_system", [SYSTEM, USER_1, ASSISTANT_1, USER_2], True, {}),
    ("ends_with_assistant", [SYSTEM, USER_1, ASSISTANT_1], False, {}),
    ("unicode_and_newlines", [UNICODE_SYSTEM, UNICODE_USER, UNICODE_ASSISTANT, USER_2], True, {}),
    ("unicode_without_system", [UNICODE_USER, UNICODE_ASSISTANT, USER_2], False, {}),
    ("roles_not_alternating", [USER_1, USER_2], True, {}),
    ("assistant_first", [ASSISTANT_1, USER_1], True, {}),
]
TOOL_CASES = [
    ("tools_offered", [SYSTEM, WEATHER_QUESTION], True, {"tools": [WEATHER_TOOL]}),
    ("tool_call_and_result", [WEATHER_QUESTION, WEATHER_CALL, WEATHER_RESULT], True, {"tools": [WEATHER_TOOL]}),
]

# The special tokens each model's tokenizer_config.json defines (None: the model has no such token), and whether
# its template renders tools.
TEMPLATES = {
    "llama-2-chat.jinja": ("<s>", "</s>", False),
    "llama-3-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>", False),
    "llama-3.1-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>", True),
    "mistral-7b-instruct-v0.1.jinja": ("<s>", "</s>", False),
    "mistral-7b-instruct-v0.3.jinja": ("<s>", "</s>", True),
    "qwen2.5-instruct.jinja": (None, "<|im_end|>", True),
    "gemma-it.jinja": ("<bos>", "<eos>", False),
    "chatml-qwen2.jinja": (None, "<|im_end|>", False),
    "zephyr.jinja": ("<s>", "</s>", False),
    "vicuna.jinja": ("<s>", "</s>", False),
}
EXTRA_CASES = {
    "llama-3.1-instruct.jinja": [("given_date_string", [SYSTEM, USER_1], True, {"date_string": "05 Mar 2025"})],
}


# Small templates, one Jinja feature each, rendered to goldens/jinja-features.json: (name, template, variables).
FEATURES = [
    ("whitespace_trim_lstrip", "  {% if true %}\n  x\n  {% endif %}\n  y {{ 1 }}\n  {#c#}\nz", {}),
    ("whitespace_minus", "a\n  {%- if true %} b {% endif -%}  \n c", {}),
    ("whitespace_plus", "a\n  {%+ if true +%}\n b{% endif %}", {}),
    ("whitespace_variable_minus", "a  {{- 'x' -}}  \n b {{ 'y' }}\n c", {}),
    ("whitespace_comment", "a {#- c -#} b\n{# c #}\nd\n   {#- x #}e", {}),
    ("whitespace_crlf", "{% if true %}\r\nx\r\n{% endif %}\r\ny\r\n", {}),
    ("whitespace_trailing_newlines", "x\n\n", {}),
    ("raw", "{% raw %}{{ not }} {% evaluated %}{% endraw %}\n  {%- raw -%}  {{ x }}  {%- endraw %}|", {}),
    ("strings", "{{ 'a\\tb\\n\\u00e9\\x41\\\\ \\'q\\' \"d\" \\d' }}|{{ \"it's\" 'concat' }}", {}),
    ("numbers", "{{ 1e20 }} {{ 1.5e-5 }} {{ 10/3 }} {{ 4/2 }} {{ 2**10 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 1.0 }} {{ 123456789012345678.0 }} {{ 1_000 }} {{ 0x1F }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }}", {}),
    ("repr", "{{ [1, 'a', \"b'c\", none, true, 1.5, [], {}] }} {{ (1,) }} {{ (1, 2) }} {{ {'a': (1, 2), 'b': {'c': none}} }} {{ ['tab\\there', 'new\\nline', 'back\\\\slash', 'both\\'\"'] }}", {}),
    ("undefined", "[{{ missing }}][{{ missing | default('d') }}][{{ none | default('n', true) }}][{{ m.x }}][{{ m['y'] }}][{{ xs[9] }}][{{ missing is defined }}][{{ m.x is undefined }}][{{ missing | length }}]", {"m": {"z": 1}, "xs": [1]}),
    ("attribute_vs_item", "{{ m.items() | list }} {{ m.keys() | list }} {{ m['items'] }} {{ m.get('a') }} {{ m.get('q', 'dflt') }} {{ m.values() | list }}", {"m": {"a": 1, "items": "key"}}),
    ("slices", "{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[-2:] }} {{ xs[5:] }} {{ s[1:3] }} {{ s[::-1] }} {{ xs[1:-1:1] }} {{ s[-1] }} {{ xs.0 }}", {"xs": [1, 2, 3, 4], "s": "h\u00e9llo\U0001F642"}),
    ("loop", "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }}/{{ loop.cycle('a', 'b') }};{% endfor %}", {"xs": ["p", "q", "r"]}),
    ("loop_filter_else", "{% for x in xs if x > 1 %}{{ loop.index }}:{{ x }}{{ ',' if not loop.last }}{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}", {"xs": [3, 1, 2]}),
    ("loop_unpack", "{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in m | items %}{{ k }}{{ v }}{% endfor %}{% for (a, b) in [[1, 2]] %}{{ a + b }}{% endfor %}{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}{% for k in m %}{{ k }}{% endfor %}", {"m": {"a": 1, "b": 2}}),
    ("loop_controls", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("scoping", "{% set y = 1 %}{% for x in xs %}{% set y = x %}{% endfor %}{{ y }}|{% if true %}{% set z = 2 %}{% endif %}{{ z }}|{% set x = 'outer' %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}", {"xs": [5, 6]}),
    ("namespace", "{% set ns = namespace(a=1, found=false) %}{% for x in [1,2,3] %}{% set ns.a = ns.a + x %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.a }} {{ ns.found }} {{ ns.missing is defined }}", {}),
    ("set_block", "{% set x %}  a {{ 1 }} {% endset %}[{{ x }}]{% set y | trim | upper %}  b c  {% endset %}[{{ y }}]{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
    ("macro", "{% macro m(a, b=2, c=a) %}{{ a }}-{{ b }}-{{ c }}-{{ varargs }}-{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 3, 4, 5) }}|{{ m(1, c=9, z=8) }}|{% set g = 'G' %}{% macro n() %}{{ g }}{% endmacro %}{% set g = 'H' %}{{ n() }}", {}),
    ("call_block", "{% macro box(title) %}[{{ title }}:{{ caller() }}]{% endmacro %}{% call box('t') %}inner {{ 1 }}{% endcall %}|{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}<{{ item }}>{% endcall %}", {}),
    ("spread_arguments", "{% macro m(a, b, c=3) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(*[1, 2]) }} {{ m(1, **{'b': 5, 'c': 6}) }} {{ m(*xs, c=9) }} {{ dict(**{'a': 1}) }}", {"xs": [7, 8]}),
    ("block_scopes", "{% filter upper %}{% set a = 1 %}{% endfilter %}[{{ a }}]{% set x %}{% set b = 2 %}{% endset %}[{{ b }}]{% generation %}{% set c = 3 %}{% endgeneration %}[{{ c }}]{% with %}{% set d = 4 %}{% endwith %}[{{ d }}]{% if true %}{% set e = 5 %}{% endif %}[{{ e }}]", {}),
    ("filter_block_with", "{% filter upper %}abc {{ 'd' }}{% endfilter %}|{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}{{ a }}", {}),
    ("operators", "{{ 1 + 2 * 3 }} {{ 1 ~ 2 * 3 }} {{ 2 ~ 3 + 4 ~ 5 }} {{ -3 + 1 }} {{ not 1 == 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' in 'abc' }} {{ 4 not in [1] }} {{ 'a' in {'a': 1} }} {{ [1, 2] + [3] }} {{ 'ab' * 2 }} {{ [0] * 3 }} {{ 1 if 0 else 2 }} {{ 'x' if 0 }}| {{ 0 or 'o' }} {{ 1 and 'a' }} {{ none or [] }} {{ -2 ** 2 }} {{ 2 ** -1 }} {{ true + 1 }} {{ 1 == 1.0 }} {{ (1, 2) == [1, 2] }} {{ [1, [2]] == [1, [2]] }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}", {}),
    ("filters_text", "{{ '  Ab c ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'hello-world foo_bar (x' | title }}|{{ 'aBC dEF' | capitalize }}|{{ 'ab' | upper }}{{ 'CD' | lower }}|{{ 'a b  c\\nd' | wordcount }}|{{ 'abc' | replace('b', 'X') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'x' | center(5) }}|{{ '<a href=\"x\">&\\'' | e }}|{{ 'abc' | reverse }}|{{ 42 | string }}{{ none | string }}|{{ 'l1\\nl2\\n\\nl3' | indent(2) }}|{{ 'l1\\nl2' | indent(2, true) }}|{{ 'l1\\n\\nl2' | indent('> ', blank=true) }}", {}),
    ("filters_lists", "{{ xs | length }} {{ xs | count }} {{ xs | first }} {{ xs | last }} {{ xs | join(',') }} {{ xs | sort }} {{ xs | sort(reverse=true) }} {{ xs | reverse | list }} {{ xs | sum }} {{ xs | min }} {{ xs | max }} {{ xs | unique | list }} {{ [] | first is defined }} {{ 'abc' | list }} {{ {'a': 1} | list }} {{ xs | map('string') | join('-') }} {{ [[1,2]] | map('first') | list }}", {"xs": [3, 1, 2, 3]}),
    ("filters_dicts", "{{ ms | map(attribute='role') | list }} {{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('|') }} {{ ms | rejectattr('role', 'eq', 'user') | list | length }} {{ ms | selectattr('tool_calls') | list }} {{ ms | selectattr('tool_calls', 'defined') | list | length }} {{ ms | map(attribute='x', default='d') | list }} {{ ms | sort(attribute='content') | map(attribute='content') | list }} {{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value', reverse=true) }} {{ ms | unique(attribute='role') | list | length }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('divisibleby', 2) | list }} {{ [0, 1, '', 'a'] | select | list }} {{ ms[0] | attr('role') }}|{{ ms[0] | attr('items') is callable }}", {"ms": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "a", "tool_calls": [1]}, {"role": "user", "content": "c"}]}),
    ("filters_numbers", "{{ -3 | abs }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 5 | round }} {{ [1.5, 2] | sum }} {{ '0x1A' | int(0, 16) }}", {}),
    ("tojson", "{{ m | tojson }}|{{ m | tojson(indent=2) }}|{{ m | tojson(sort_keys=true) }}|{{ m | tojson(separators=(',', ':')) }}|{{ 'é\"\\\\\\n\\x01\u2028' | tojson }}|{{ [] | tojson(indent=4) }}|{{ {} | tojson }}|{{ [1.0, 2.5e-10, none, true] | tojson }}|{{ m | tojson(ensure_ascii=true) }}|{{ (1, 'a') | tojson }}", {"m": {"z": [1, {"y": "\u00fc\U0001F642"}], "a": None, "n": 1.5, "t": True}}),
    ("tests", "{{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is sequence }} {{ 'a' is iterable }} {{ none is none }} {{ false is false }} {{ true is true }} {{ 1 is boolean }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 2 is in [1, 2] }} {{ 'A' is upper }} {{ 'a' is lower }} {{ 1 is eq 1 }} {{ 1 is gt 0 }} {{ 1 is lessthan 0 }} {{ none is sameas none }} {{ range is callable }} {{ 'trim' is filter }} {{ 'odd' is test }} {{ x is not defined }} {{ 1 is ne 2 }} {{ 2 is ge 2 }} {{ 'x' is le 'y' }}", {}),
    ("string_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ s.upper() }}|{{ s.lower() }}|{{ \"they're bill's\".title() }}|{{ 'hello world'.capitalize() }}|{{ s.startswith('  a') }}|{{ s.endswith(('x', ' ')) }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'a b'.replace(' ', '_') }}|{{ 'l1\\nl2\\r\\nl3'.splitlines() }}|{{ 'abcb'.find('b') }}|{{ 'abcb'.rfind('b') }}|{{ 'abcb'.count('b') }}|{{ '-'.join(['a', 'b']) }}|{{ 'ab'.center(6, '*') }}|{{ '7'.zfill(3) }}|{{ 'abc'.removeprefix('a') }}|{{ 'a=b'.partition('=') }}|{{ 'abc'.isalpha() }}|{{ '12'.isdigit() }}|{{ 'Hi'.swapcase() }}", {"s": "  aBc Déf  "}),
    ("globals", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ dict(a=1, b=2) }} {{ namespace(x=1).x }} {% set j = joiner('+') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    ("print_and_tuple_output", "{% print 'p' %}|{{ 1, 2 }}|{{ () }}", {}),
    ("generation_tag", "{% for m in ms %}{% if m == 'a' %}{% generation %}{{ m | upper }}{% endgeneration %}{% else %}{{ m }}{% endif %}{% endfor %}", {"ms": ["a", "b"]}),
    ("strftime", "{{ strftime_now is defined }}", {}),
    ("unicode_data", "{{ s }}|{{ s | length }}|{{ s | upper }}|{{ s[0] }}{{ s[-1] }}|{{ s | tojson }}", {"s": "\u00e9t\u00e9 \U0001F642 \u65e5\u672c \u00df"}),
]
# Templates Jinja2 refuses to compile or render; the engine must refuse them too.
ERRORS = [
    ("error_undefined_attribute_of_undefined", "{{ missing.x }}", {}),
    ("error_attribute_of_missing_key", "{{ m.a.b }}", {"m": {}}),
    ("error_str_plus_int", "{{ 'a' + 1 }}", {}),
    ("error_int_plus_str", "{{ 1 + 'a' }}", {}),
    ("error_undefined_plus", "{{ m.x + 'a' }}", {"m": {}}),
    ("error_raise_in_macro", "{% macro f() %}{{ raise_exception('no ' ~ 'way') }}{% endmacro %}{{ f() }}", {}),
    ("error_unknown_filter", "{{ x | nosuchfilter }}", {}),
    ("error_unknown_test", "{{ x is nosuchtest }}", {}),
    ("error_not_iterable", "{% for x in 3 %}{% endfor %}", {}),
    ("error_namespace_assign", "{% set s = 1 %}{% set s.x = 2 %}", {}),
    ("error_division", "{{ 1 / 0 }}", {}),
    ("error_call_undefined", "{{ nosuch() }}", {}),
    ("error_tojson_undefined", "{{ x | tojson }}", {}),
    ("error_unclosed_block", "{% for x in y %}a", {}),
    ("error_unclosed_variable", "{{ x ", {}),
    ("error_unknown_tag", "{% frobnicate %}", {}),
    ("error_unsafe_append", "{{ xs.append(1) }}", {"xs": []}),
    ("error_slice_step_zero", "{{ [1][::0] }}", {}),
    ("error_compare", "{{ 1 < 'a' }}", {}),
]


def render(env, source, variables):
    try:
        return {"expected": env.from_string(source).render(**variables)}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception's own error type; its message is the template's sentence
        return {"error": str(e), "raised_by_template": type(e) is jinja2.exceptions.TemplateError}
    except Exception as e:  # a Python error inside the template (a TypeError, say)
        return {"error": f"{type(e).__name__}: {e}", "raised_by_template": False}


def main():
    env = environment()
    OUT.mkdir(exist_ok=True)
    for name, (bos, eos, tools) in TEMPLATES.items():
        source = (HERE / name).read_text(encoding="utf-8")
        cases = CASES + (TOOL_CASES if tools else []) + EXTRA_CASES.get(name, [])
        rendered = []
        for case_name, messages, add_generation_prompt, extra in cases:
            # apply_chat_template: render(messages=..., tools=..., documents=..., add_generation_prompt=...,
            # **special tokens, **extra keyword arguments)
            variables = {"messages": messages, "tools": None, "documents": None,
                         "add_generation_prompt": add_generation_prompt}
            if bos is not None:
                variables["bos_token"] = bos
            if eos is not None:
                variables["eos_token"] = eos
            variables.update(extra)
            rendered.append({"name": case_name, "variables": variables, **render(env, source, variables)})
        golden = {"template": name, "jinja2": jinja2.__version__, "cases": rendered}
        path = OUT / (pathlib.Path(name).stem + ".json")
        path.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{path.name}: {sum('expected' in c for c in rendered)} rendered, "
              f"{sum('error' in c for c in rendered)} raising")
    features = [{"name": name, "template": template, "variables": variables, **render(env, template, variables)}
                for name, template, variables in FEATURES + ERRORS]
    path = OUT / "jinja-features.json"
    path.write_text(json.dumps({"jinja2": jinja2.__version__, "cases": features}, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    print(f"{path.name}: {len(FEATURES)} rendered, {len(ERRORS)} raising")


if __name__ == "__main__":
    main()
