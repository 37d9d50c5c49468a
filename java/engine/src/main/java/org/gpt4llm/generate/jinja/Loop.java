package org.gpt4llm.generate.jinja;

import java.util.List;

/** The {@code loop} variable of a {@code {% for %}}: where the iteration is, and its neighbours. */
final class Loop {
    private final List<Object> items;
    private int index0;
    private List<Object> lastChanged;

    Loop(List<Object> items) {
        this.items = items;
    }

    void moveTo(int index0) {
        this.index0 = index0;
    }

    long index() {
        return index0 + 1;
    }

    long length() {
        return items.size();
    }

    Object attribute(String name) {
        int n = items.size();
        return switch (name) {
            case "index0" -> (long) index0;
            case "index" -> index();
            case "revindex0" -> (long) (n - index0 - 1);
            case "revindex" -> (long) (n - index0);
            case "first" -> index0 == 0;
            case "last" -> index0 == n - 1;
            case "length" -> (long) n;
            case "depth" -> 1L;
            case "depth0" -> 0L;
            case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.because("there is no previous item");
            case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : Undefined.because("there is no next item");
            case "cycle" -> (TemplateFunction) args -> {
                if (args.positional().isEmpty()) throw new TemplateError("no items for cycling given");
                return args.positional().get(index0 % args.positional().size());
            };
            case "changed" -> (TemplateFunction) args -> {
                boolean changed = lastChanged == null || !Values.equal(lastChanged, args.positional());
                lastChanged = new java.util.ArrayList<>(args.positional());
                return changed;
            };
            default -> Undefined.attribute(this, name);
        };
    }
}
