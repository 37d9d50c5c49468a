package org.gpt4llm.eval.hhh;

/** A verdict on one criterion, about the models (not about the sides they were shown on). */
public enum Choice {
    A("a"), TIE("tie"), B("b");

    public final String key;

    Choice(String key) {
        this.key = key;
    }

    public static Choice parse(String key, String where) {
        for (Choice c : values()) if (c.key.equals(key)) return c;
        throw new IllegalArgumentException(where + ": choice \"" + key + "\" is not one of a, tie, b");
    }

    /**
     * The verdict of a rater who picked {@code side} ("left", "tie" or "right") when model A was
     * shown on the left ({@code leftIsA}) or on the right.
     */
    public static Choice fromSide(String side, boolean leftIsA) {
        return switch (side) {
            case "left" -> leftIsA ? A : B;
            case "right" -> leftIsA ? B : A;
            case "tie" -> TIE;
            default -> throw new IllegalArgumentException("choice \"" + side + "\" is not one of left, tie, right");
        };
    }

    /** The side this verdict was picked on, the inverse of {@link #fromSide}. */
    public String side(boolean leftIsA) {
        return switch (this) {
            case TIE -> "tie";
            case A -> leftIsA ? "left" : "right";
            case B -> leftIsA ? "right" : "left";
        };
    }
}
