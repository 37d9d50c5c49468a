package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code -Dgpt4llm.targets}: every target that runs here without it; with it, those named, and a named one that cannot run fails. */
class TargetSelectionTest {
    private static final List<String> ALL = List.of("cpu", "cpu-scalar", "cuda-emu", "cuda");

    /** The targets selected with the property set to {@code value} (null: unset) on a machine without a GPU. */
    private static List<String> select(String value) {
        String before = System.getProperty(TargetSelection.PROPERTY);
        try {
            if (value == null) System.clearProperty(TargetSelection.PROPERTY);
            else System.setProperty(TargetSelection.PROPERTY, value);
            return TargetSelection.select(ALL, t -> t, t -> t.equals("cuda") ? "no driver here" : null);
        } finally {
            if (before == null) System.clearProperty(TargetSelection.PROPERTY);
            else System.setProperty(TargetSelection.PROPERTY, before);
        }
    }

    @Test
    void withoutThePropertyEveryTargetThatRunsHere() {
        assertEquals(List.of("cpu", "cpu-scalar", "cuda-emu"), select(null));
        assertEquals(List.of("cpu", "cpu-scalar", "cuda-emu"), select(" "));
    }

    @Test
    void thePropertyKeepsTheNamedOnesInTheirOrder() {
        assertEquals(List.of("cuda-emu"), select("cuda-emu"));
        assertEquals(List.of("cpu", "cuda-emu"), select("CUDA-EMU, cpu"));
    }

    @Test
    void aNamedTargetThatCannotRunOrAnUnknownNameFailsWithOneSentence() {
        var e = assertThrows(IllegalStateException.class, () -> select("cuda"));
        assertEquals("-Dgpt4llm.targets=cuda names cuda, which cannot run here: no driver here", e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> select("cpu,gpu"));
        assertEquals("-Dgpt4llm.targets=cpu,gpu names gpu, which is not one of cpu, cpu-scalar, cpu-avx512, cpu-avx512-bf16, cuda-emu, cuda", e.getMessage());
    }
}
