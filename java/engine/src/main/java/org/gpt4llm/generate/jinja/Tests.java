package org.gpt4llm.generate.jinja;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** Jinja's built-in tests ({@code x is name}, {@code x is not name(arg)}). */
final class Tests {
    private Tests() {}

    private static final Set<String> NAMES = Set.of("defined", "undefined", "none", "boolean", "true", "false", "integer",
            "float", "number", "string", "mapping", "sequence", "iterable", "callable", "sameas", "escaped", "lower", "upper",
            "even", "odd", "divisibleby", "in", "eq", "equalto", "==", "ne", "!=", "gt", "greaterthan", ">", "ge", ">=", "lt",
            "lessthan", "<", "le", "<=", "filter", "test");

    /** Null when {@code name} is a test, else why not (checked when the template is compiled, as Jinja does). */
    static String problem(String name) {
        return NAMES.contains(name) ? null : "no test named '" + name + "'";
    }

    static boolean apply(String name, Object v, Arguments a) {
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "number" -> Values.isNumber(v);
            case "string" -> v instanceof String;
            case "mapping" -> v instanceof Map;
            // Python asks for len() and indexing, or for iter(): Undefined has both
            case "sequence" -> v instanceof String || v instanceof List || v instanceof Tuple || v instanceof Map || v instanceof Undefined;
            case "iterable" -> v instanceof String || v instanceof List || v instanceof Tuple || v instanceof Map || v instanceof Undefined;
            case "callable" -> v instanceof TemplateFunction || v instanceof Undefined;
            case "sameas" -> {
                Object other = a.required(0, "other");
                yield v == other || (v == null ? other == null : v instanceof Boolean && v.equals(other));
            }
            case "escaped" -> false;
            case "lower" -> {
                String s = Values.str(v);
                yield s.codePoints().anyMatch(Character::isLowerCase) && s.equals(Strings.lower(s));
            }
            case "upper" -> {
                String s = Values.str(v);
                yield s.codePoints().anyMatch(Character::isUpperCase) && s.equals(Strings.upper(s));
            }
            case "even", "odd" -> {
                Object remainder = Operators.binary("%", v, 2L);
                yield Values.equal(remainder, 0L) == name.equals("even");
            }
            case "divisibleby" -> Values.equal(Operators.binary("%", v, a.required(0, "num")), 0L);
            case "in" -> Operators.contains(a.required(0, "seq"), v);
            case "eq", "equalto", "==" -> Values.equal(v, a.required(0, "other"));
            case "ne", "!=" -> !Values.equal(v, a.required(0, "other"));
            case "gt", "greaterthan", ">" -> Operators.compare(">", v, a.required(0, "other"));
            case "ge", ">=" -> Operators.compare(">=", v, a.required(0, "other"));
            case "lt", "lessthan", "<" -> Operators.compare("<", v, a.required(0, "other"));
            case "le", "<=" -> Operators.compare("<=", v, a.required(0, "other"));
            case "filter" -> v instanceof String s && Filters.problem(s) == null;
            case "test" -> v instanceof String s && problem(s) == null;
            default -> throw new IllegalStateException(name);
        };
    }
}
