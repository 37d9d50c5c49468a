package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Fused softmax cross-entropy with ignore_index against libtorch's cross_entropy (reduction none). */
class CrossEntropyTest {
    private static final CpuBackend CPU = new CpuBackend(2);
    private static final int IGNORE = -100;

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("ce");
    }


    static Stream<Arguments> cases() {
        // N, V, fraction of ignored rows, in place (dlogits aliases logits)
        Object[][] s = {{1, 7, 0.0, false}, {3, 33, 0.34, false}, {19, 257, 0.3, true}, {3, 1, 0.0, false},
                {4, 32000, 0.25, true}, {5, 32003, 0.0, false}, {64, 1000, 0.5, false}, {7, 513, 0.0, true},
                {6, 50, 1.0, false}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (Object[] r : s) b.add(Arguments.of(r[0], r[1], r[2], r[3], scalar));
        }
        return b.build();
    }

    @ParameterizedTest(name = "N={0} V={1} ignored={2} inPlace={3} scalar={4}")
    @MethodSource("cases")
    void matchesLibtorch(int n, int v, double ignoredFraction, boolean inPlace, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", V=" + v + ", " + KernelChecks.path(scalar)
                + (inPlace ? ", in place" : "");
        Random rng = new Random(seed);
        float[] logits = Numerics.normal(rng, n * v, 3.0f);
        // one row far from 0: the max subtraction is what keeps it finite
        int far = rng.nextInt(n);
        for (int j = 0; j < v; j++) logits[far * v + j] += 1000f;
        int[] targets = new int[n];
        int valid = 0;
        for (int i = 0; i < n; i++) {
            boolean ignored = ignoredFraction >= 1.0 || (i > 0 && rng.nextDouble() < ignoredFraction);
            targets[i] = ignored ? IGNORE : rng.nextInt(v);
            if (!ignored) valid++;
        }
        final int expectedCount = valid;
        float gradScale = expectedCount > 0 && rng.nextBoolean() ? 1f / expectedCount : 0.37f;
        float[][] ref = KernelChecks.crossEntropyReference(logits, targets, n, v, IGNORE, gradScale);

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor x = Tensor.of(arena, logits, n, v);
                Tensor t = Tensor.ofInts(arena, targets, n);
                Tensor losses = Tensor.of(arena, Numerics.normal(new Random(seed + 1), n, 5f), n);  // overwritten
                Tensor d = inPlace ? x : Tensor.of(arena, Numerics.normal(new Random(seed + 2), n * v, 5f), n, v);
                int count = CPU.crossEntropy(losses, d, x, t, IGNORE, gradScale);
                assertEquals(expectedCount, count, "count of non-ignored rows, " + ctx);
                float[] l = losses.toFloatArray();
                float[] g = d.toFloatArray();
                for (int i = 0; i < n; i++) {
                    if (targets[i] != IGNORE) continue;
                    assertEquals(0f, l[i], "ignored row " + i + " has a loss, " + ctx);
                    for (int j = 0; j < v; j++) assertEquals(0f, g[i * v + j], "ignored row " + i + " has a gradient, " + ctx);
                }
                if (expectedCount == 0) {
                    assertArrayEquals(ref[0], l, "all ignored: losses, " + ctx);
                    assertArrayEquals(ref[1], g, "all ignored: gradient, " + ctx);
                    return;
                }
                if (v > 1) {
                    assertClose("ce losses", l, ref[0], FP32_TOL, ctx);
                    assertClose("ce dlogits", g, ref[1], FP32_TOL, ctx);
                } else {  // one class: loss and gradient are exactly 0
                    assertArrayEquals(new float[n], l, ctx);
                    assertArrayEquals(new float[n], g, ctx);
                }

                // losses only (dlogits NULL) from the original logits
                Tensor x2 = Tensor.of(arena, logits, n, v);
                Tensor l2 = Tensor.allocate(arena, DType.F32, n);
                assertEquals(expectedCount, CPU.crossEntropy(l2, null, x2, t, IGNORE, gradScale));
                assertArrayEquals(l, l2.toFloatArray(), "losses without dlogits, " + ctx);
                assertArrayEquals(logits, x2.toFloatArray(), "logits changed without dlogits, " + ctx);
            }
        });
    }

    @Test
    void ignoreIndexInsideTheVocabulary() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 9, v = 17, ignore = 3;
        float[] logits = Numerics.normal(rng, n * v, 2f);
        int[] targets = new int[n];
        for (int i = 0; i < n; i++) targets[i] = i % 3 == 0 ? ignore : rng.nextInt(v);
        float[][] ref = KernelChecks.crossEntropyReference(logits, targets, n, v, ignore, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor losses = Tensor.allocate(arena, DType.F32, n), d = Tensor.allocate(arena, DType.F32, n, v);
            int count = CPU.crossEntropy(losses, d, Tensor.of(arena, logits, n, v), Tensor.ofInts(arena, targets, n), ignore, 1f);
            int expected = 0;
            for (int t : targets) if (t != ignore) expected++;
            assertEquals(expected, count, "seed " + seed);
            assertClose("ce losses", losses.toFloatArray(), ref[0], FP32_TOL, "seed " + seed + ", ignore_index 3");
            assertClose("ce dlogits", d.toFloatArray(), ref[1], FP32_TOL, "seed " + seed + ", ignore_index 3");
        }
    }

    @ParameterizedTest(name = "scalar={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void nanLogitGivesNanLossInItsRowOnly(boolean scalar) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 3, v = 101;
        float[] logits = Numerics.normal(rng, n * v, 1f);
        logits[v + 1 + rng.nextInt(v - 1)] = Float.NaN;  // row 1, not its target (column 0)
        int[] targets = {5, 0, 7};
        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor losses = Tensor.allocate(arena, DType.F32, n), x = Tensor.of(arena, logits, n, v);
                CPU.crossEntropy(losses, x, x, Tensor.ofInts(arena, targets, n), IGNORE, 1f);
                float[] l = losses.toFloatArray();
                String ctx = "seed " + seed + ", " + KernelChecks.path(scalar);
                assertTrue(Float.isNaN(l[1]), "row with a NaN logit: loss " + l[1] + ", " + ctx);
                assertTrue(Float.isFinite(l[0]) && Float.isFinite(l[2]), "other rows: " + l[0] + ", " + l[2] + ", " + ctx);
            }
        });
    }

    @Test
    void targetOutsideTheVocabularyIsRejectedBeforeAnythingIsWritten() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 5, v = 11;
        float[] logits = Numerics.normal(rng, n * v, 1f);
        for (int bad : new int[] {v, -1, 1 << 20}) {
            try (Arena arena = Arena.ofConfined()) {
                int[] targets = {2, IGNORE, 0, bad, 1};
                float[] before = Numerics.normal(rng, n, 1f);
                Tensor losses = Tensor.of(arena, before, n);
                Tensor x = Tensor.of(arena, logits, n, v);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> CPU.crossEntropy(losses, x, x, Tensor.ofInts(arena, targets, n), IGNORE, 1f));
                assertTrue(e.getMessage().contains("row 3"), e.getMessage());
                assertArrayEquals(before, losses.toFloatArray(), "losses written, seed " + seed);
                assertArrayEquals(logits, x.toFloatArray(), "logits/dlogits written, seed " + seed);
                // the raw kernel reports the first bad row as -1 - n
                assertEquals(-1 - 3, CpuKernels.crossEntropy(losses.data(), x.data(), x.data(),
                        Tensor.ofInts(arena, targets, n).data(), n, v, IGNORE, 1f));
            }
        }
    }
}
