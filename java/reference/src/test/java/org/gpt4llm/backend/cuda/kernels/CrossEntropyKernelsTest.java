package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.BF16_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_SHORT_SUM_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.cpu.KernelChecks;
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

/**
 * kernels/cross_entropy.cu through the emulation against libtorch's cross_entropy (reduction none)
 * on the same bf16 logits, in fp32.
 */
class CrossEntropyKernelsTest {
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
        // N, V, fraction of ignored rows, in place; V % 8 == 0 takes the 16-byte path
        return Stream.of(Arguments.of(1, 7, 0.0, false), Arguments.of(3, 1000, 0.34, false),
                Arguments.of(5, 1003, 0.3, true), Arguments.of(3, 1000, 0.0, true), Arguments.of(2, 1, 0.0, false),
                Arguments.of(4, 4099, 0.25, false), Arguments.of(3, 4104, 0.0, true), Arguments.of(6, 50, 1.0, false),
                Arguments.of(7, 33, 0.5, true));
    }

    @ParameterizedTest(name = "N={0} V={1} ignored={2} inPlace={3}")
    @MethodSource("cases")
    void matchesLibtorch(int n, int v, double ignoredFraction, boolean inPlace) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", V=" + v + (inPlace ? ", in place" : "");
        Random rng = new Random(seed);
        float[] logits = Numerics.normal(rng, n * v, 3.0f);
        int far = rng.nextInt(n);  // a row far from 0: only the max subtraction keeps it finite
        for (int j = 0; j < v; j++) logits[far * v + j] += 300f;
        logits = DeviceChecks.bf16(logits);
        int[] targets = new int[n];
        int valid = 0;
        for (int i = 0; i < n; i++) {
            boolean ignored = ignoredFraction >= 1.0 || (i > 0 && rng.nextDouble() < ignoredFraction);
            targets[i] = ignored ? IGNORE : rng.nextInt(v);
            if (!ignored) valid++;
        }
        float gradScale = valid > 0 && rng.nextBoolean() ? 1f / valid : 0.37f;
        float[][] ref = KernelChecks.crossEntropyReference(logits, targets, n, v, IGNORE, gradScale);

        try (Arena arena = Arena.ofConfined()) {
            Tensor x = DeviceChecks.bf16(arena, logits, n, v);
            Tensor t = DeviceChecks.ints(arena, targets, n);
            Tensor losses = DeviceChecks.f32(arena, Numerics.normal(rng, n, 5f), n);  // overwritten
            Tensor d = inPlace ? x : DeviceChecks.bf16(arena, Numerics.normal(rng, n * v, 5f), n, v);
            int count = CrossEntropyKernels.crossEntropy(device(), losses, d, x, t, targets, IGNORE, gradScale);
            assertEquals(valid, count, "count of non-ignored rows, " + ctx);
            float[] l = download(losses), g = download(d);
            for (int i = 0; i < n; i++) {
                if (targets[i] != IGNORE) continue;
                assertEquals(0f, l[i], "ignored row " + i + " has a loss, " + ctx);
                for (int j = 0; j < v; j++) assertEquals(0f, g[i * v + j], "ignored row " + i + " has a gradient, " + ctx);
            }
            if (valid == 0) {
                assertArrayEquals(ref[0], l, "all ignored: losses, " + ctx);
                assertArrayEquals(ref[1], g, "all ignored: gradient, " + ctx);
            } else if (v == 1) {  // one class: loss and gradient are exactly 0
                assertArrayEquals(new float[n], l, ctx);
                assertArrayEquals(new float[n], g, ctx);
            } else {
                // loss = lse - x_t: fp32 rounding is relative to |x_t| (about 300 in the far row)
                float[] terms = new float[n];
                for (int i = 0; i < n; i++) terms[i] = targets[i] == IGNORE ? 0f : Math.abs(logits[i * v + targets[i]]);
                KernelChecks.assertCloseScaled("ce losses", l, ref[0], terms, F32_SHORT_SUM_TOL, ctx);
                assertClose("ce dlogits", g, ref[1], BF16_TOL, ctx);
            }

            // forward only (dlogits NULL), counting from the downloaded targets: same losses, logits untouched
            Tensor x2 = DeviceChecks.bf16(arena, logits, n, v);
            Tensor l2 = device().allocate(arena, DType.F32, n);
            assertEquals(valid, CrossEntropyKernels.crossEntropy(device(), l2, null, x2, t, IGNORE, gradScale), ctx);
            assertArrayEquals(l, download(l2), "losses without dlogits, " + ctx);
            assertArrayEquals(logits, download(x2), "logits changed without dlogits, " + ctx);
        }
    }

    @Test
    void ignoreIndexInsideTheVocabulary() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 9, v = 17, ignore = 3;
        float[] logits = DeviceChecks.bf16(Numerics.normal(rng, n * v, 2f));
        int[] targets = new int[n];
        int expected = 0;
        for (int i = 0; i < n; i++) {
            targets[i] = i % 3 == 0 ? ignore : rng.nextInt(v);
            if (targets[i] != ignore) expected++;
        }
        float[][] ref = KernelChecks.crossEntropyReference(logits, targets, n, v, ignore, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor losses = device().allocate(arena, DType.F32, n), d = device().allocate(arena, DType.BF16, n, v);
            int count = CrossEntropyKernels.crossEntropy(device(), losses, d, DeviceChecks.bf16(arena, logits, n, v),
                    DeviceChecks.ints(arena, targets, n), ignore, 1f);
            assertEquals(expected, count, "seed " + seed);
            assertClose("ce losses", download(losses), ref[0], F32_SHORT_SUM_TOL, "seed " + seed + ", ignore_index 3");
            assertClose("ce dlogits", download(d), ref[1], BF16_TOL, "seed " + seed + ", ignore_index 3");
        }
    }

    @Test
    void nanLogitGivesNanLossInItsRowOnly() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 3, v = 104;  // both paths: V % 8 == 0 here, and 101 below
        for (int vv : new int[] {v, 101}) {
            float[] logits = DeviceChecks.bf16(Numerics.normal(rng, n * vv, 1f));
            logits[vv + 1 + rng.nextInt(vv - 1)] = Float.NaN;  // row 1, not its target (column 0)
            try (Arena arena = Arena.ofConfined()) {
                Tensor losses = device().allocate(arena, DType.F32, n), x = DeviceChecks.bf16(arena, logits, n, vv);
                CrossEntropyKernels.crossEntropy(device(), losses, x, x, DeviceChecks.ints(arena, new int[] {5, 0, 7}, n),
                        IGNORE, 1f);
                float[] l = download(losses);
                String ctx = "seed " + seed + ", V=" + vv;
                assertTrue(Float.isNaN(l[1]), "row with a NaN logit: loss " + l[1] + ", " + ctx);
                assertTrue(Float.isFinite(l[0]) && Float.isFinite(l[2]), "other rows: " + l[0] + ", " + l[2] + ", " + ctx);
            }
        }
    }

    @Test
    void targetOutsideTheVocabularyIsRejectedBeforeAnythingIsWritten() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 5, v = 11;
        float[] logits = DeviceChecks.bf16(Numerics.normal(rng, n * v, 1f));
        for (int bad : new int[] {v, -1, 1 << 20}) {
            int[] targets = {2, IGNORE, 0, bad, 1};
            for (boolean fromDevice : new boolean[] {false, true}) {
                try (Arena arena = Arena.ofConfined()) {
                    float[] before = Numerics.normal(rng, n, 1f);
                    Tensor losses = DeviceChecks.f32(arena, before, n);
                    Tensor x = DeviceChecks.bf16(arena, logits, n, v), t = DeviceChecks.ints(arena, targets, n);
                    var e = assertThrows(IllegalArgumentException.class, () -> {
                        if (fromDevice) CrossEntropyKernels.crossEntropy(device(), losses, x, x, t, IGNORE, 1f);
                        else CrossEntropyKernels.crossEntropy(device(), losses, x, x, t, targets, IGNORE, 1f);
                    });
                    assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains(String.valueOf(bad)), e.getMessage());
                    assertArrayEquals(before, download(losses), "losses written, seed " + seed);
                    assertArrayEquals(logits, download(x), "logits/dlogits written, seed " + seed);
                }
            }
        }
    }

    @Test
    void wrongDtypesAndShapesAreNamed() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor f32Logits = device().allocate(arena, DType.F32, 2, 8), logits = device().allocate(arena, DType.BF16, 2, 8);
            Tensor losses = device().allocate(arena, DType.F32, 2), t = DeviceChecks.ints(arena, new int[] {1, 2}, 2);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> CrossEntropyKernels.crossEntropy(device(), losses, null, f32Logits, t, new int[] {1, 2}, IGNORE, 1f));
            assertTrue(e.getMessage().contains("logits must be BF16"), e.getMessage());
            Tensor shortLosses = device().allocate(arena, DType.F32, 1);
            e = assertThrows(IllegalArgumentException.class,
                    () -> CrossEntropyKernels.crossEntropy(device(), shortLosses, null, logits, t, new int[] {1, 2}, IGNORE, 1f));
            assertTrue(e.getMessage().contains("losses"), e.getMessage());
        }
    }
}
