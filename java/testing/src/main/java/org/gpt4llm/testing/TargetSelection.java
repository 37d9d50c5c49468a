package org.gpt4llm.testing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Which backends the tests that run on several of them take: every one the machine has, or only those
 * {@code -Dgpt4llm.targets} names, comma-separated from {@link #NAMES} (bin/gpu-check passes
 * {@code -Dgpt4llm.targets=cuda} so that the device alone is checked, not the CPU paths and the
 * emulation again). A backend named there that the machine cannot run fails the test with one
 * sentence, so that such a run cannot pass having checked nothing.
 */
public final class TargetSelection {
    public static final String PROPERTY = "gpt4llm.targets";
    public static final List<String> NAMES = List.of("cpu", "cpu-scalar", "cpu-avx512", "cpu-avx512-bf16", "cuda-emu", "cuda");

    private TargetSelection() {}

    /**
     * The targets of {@code all} that run here, in their order: those {@code whyAbsent} answers null for,
     * kept to the ones the property names when it is set.
     *
     * @param label     a target's name, one of {@link #NAMES}
     * @param whyAbsent why the machine cannot run a target, or null when it can
     * @throws IllegalStateException where the property names something unknown, or a target of
     *                               {@code all} that the machine cannot run
     */
    public static <T> List<T> select(List<T> all, Function<T, String> label, Function<T, String> whyAbsent) {
        List<String> named = named();
        List<T> out = new ArrayList<>();
        for (T t : all) {
            String why = whyAbsent.apply(t);
            if (named == null) {
                if (why == null) out.add(t);
            } else if (named.contains(label.apply(t))) {
                if (why != null) {
                    throw new IllegalStateException("-D" + PROPERTY + "=" + System.getProperty(PROPERTY) + " names "
                            + label.apply(t) + ", which cannot run here: " + why);
                }
                out.add(t);
            }
        }
        return out;
    }

    /** The names the property lists, or null when it is not set (every target that runs here takes part). */
    static List<String> named() {
        String given = System.getProperty(PROPERTY);
        if (given == null || given.isBlank()) return null;
        List<String> names = Arrays.stream(given.split(",")).map(s -> s.strip().toLowerCase(Locale.ROOT))
                .filter(s -> !s.isEmpty()).toList();
        for (String n : names) {
            if (!NAMES.contains(n)) {
                throw new IllegalStateException("-D" + PROPERTY + "=" + given + " names " + n + ", which is not one of "
                        + String.join(", ", NAMES));
            }
        }
        return names;
    }
}
