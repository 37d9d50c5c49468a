package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fused softmax cross-entropy with ignore_index on every backend against libtorch's
 * cross_entropy (reduction none, then (sum * gradScale).backward()) in float64 on the logits the
 * backend holds: per-row losses and dlogits, in place and into a separate tensor, the count of rows
 * that are not ignored, ignored rows giving exact zeros, a row far from 0, a vocabulary of one, the
 * forward alone leaving the logits untouched, a NaN staying in its row, and targets outside the
 * vocabulary refused before anything is written.
 */
class CrossEntropyContractTest {
    private static final int IGNORE = -100;

    @AfterAll
    static void report() {
        Checks.report(" ce ");
    }

    private static Object[] c(int n, int v, double ignored, boolean inPlace) {
        return new Object[] {n, v, ignored, inPlace};
    }

    /**
     * N, V, fraction of ignored rows, in place (dlogits is logits); on a GPU V % 8 == 0 takes the 16-byte
     * path; the CPU's AVX-512 path joins its AVX2 and scalar ones. Beyond the emulation: more rows, the CPU's 512-float chunk edge, real vocabulary sizes.
     */
    static Stream<Arguments> cases() {
        return Stream.concat(Target.crossedWithAvx512(c(1, 7, 0.0, false), c(3, 33, 0.34, false), c(7, 33, 0.5, true),
                        c(3, 1, 0.0, false), c(3, 1000, 0.34, false), c(5, 1003, 0.3, true), c(3, 1000, 0.0, true),
                        c(4, 4099, 0.25, false), c(3, 4104, 0.0, true), c(6, 50, 1.0, false)),
                Target.notEmulated(c(19, 257, 0.3, true), c(7, 513, 0.0, true), c(4, 32000, 0.25, true),
                        c(5, 32003, 0.0, false), c(64, 1000, 0.5, false), c(3, 128256, 0.34, true)));
    }

    /** Every present target, the CPU's AVX-512 path among them. */
    static Stream<Target> targets() {
        return Target.presentWithAvx512().stream();
    }

    @ParameterizedTest(name = "{0} N={1} V={2} ignored={3} inPlace={4}")
    @MethodSource("cases")
    void matchesLibtorch(Target t, int n, int v, double ignoredFraction, boolean inPlace) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", V=" + v + (inPlace ? ", in place" : "");
        Random rng = new Random(seed);
        float[] raw = Numerics.normal(rng, n * v, 3.0f);
        // a row far from 0: only the max subtraction keeps it finite (bf16 holds 300 to a step of 2, 1000 to 8)
        int far = rng.nextInt(n);
        float offset = t.bf16() ? 300f : 1000f;
        for (int j = 0; j < v; j++) raw[far * v + j] += offset;
        float[] logits = t.held(raw);
        int[] targets = new int[n];
        int valid = 0;
        for (int i = 0; i < n; i++) {
            boolean ignored = ignoredFraction >= 1.0 || (i > 0 && rng.nextDouble() < ignoredFraction);
            targets[i] = ignored ? IGNORE : rng.nextInt(v);
            if (!ignored) valid++;
        }
        int expectedCount = valid;
        float gradScale = valid > 0 && rng.nextBoolean() ? 1f / valid : 0.37f;
        float[][] ref = reference(logits, targets, n, v, IGNORE, gradScale);

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor x = t.act(arena, logits, n, v), tt = t.ints(arena, targets, n);
                Tensor losses = t.f32(arena, Numerics.normal(new Random(seed + 1), n, 5f), n);  // overwritten
                Tensor d = inPlace ? x : t.act(arena, Numerics.normal(new Random(seed + 2), n * v, 5f), n, v);
                assertEquals(expectedCount, be.crossEntropy(losses, d, x, tt, IGNORE, gradScale),
                        t + " count of rows that are not ignored, " + ctx);
                float[] l = t.get(losses), g = t.get(d);
                for (int i = 0; i < n; i++) {
                    if (targets[i] != IGNORE) continue;
                    assertEquals(0f, l[i], t + " ignored row " + i + " has a loss, " + ctx);
                    for (int j = 0; j < v; j++) assertEquals(0f, g[i * v + j], t + " ignored row " + i + " has a gradient, " + ctx);
                }
                if (expectedCount == 0) {
                    assertArrayEquals(ref[0], l, t + " all ignored: losses, " + ctx);
                    assertArrayEquals(ref[1], g, t + " all ignored: gradient, " + ctx);
                } else if (v == 1) {  // one class: loss and gradient are exactly 0
                    assertArrayEquals(new float[n], l, t + " one class: losses, " + ctx);
                    assertArrayEquals(new float[n], g, t + " one class: gradient, " + ctx);
                } else {
                    // loss = m + log S - x_t with S = Σ e^(x - m) ≥ 1 summed in fp32: log S is off by a few
                    // fp32 ulps of 1 however small the loss (a target holding almost all the mass gives one
                    // near 0), so rounding is relative to at least 1 a row; from bf16 logits it is also
                    // relative to |x_t| (300 in the far row)
                    float[] terms = new float[n];
                    for (int i = 0; i < n; i++) {
                        if (targets[i] != IGNORE) terms[i] = t.bf16() ? Math.max(1f, Math.abs(logits[i * v + targets[i]])) : 1f;
                    }
                    Checks.assertCloseScaled(t, "ce losses", l, ref[0], terms, t.tol(F32_SHORT), ctx);
                    Checks.assertClose(t, "ce dlogits", g, ref[1], t.tol(STORED), ctx);
                }

                // the forward alone (dlogits null) from the original logits: the same losses, the logits untouched
                Tensor x2 = t.act(arena, logits, n, v), l2 = be.allocate(arena, DType.F32, n);
                assertEquals(expectedCount, be.crossEntropy(l2, null, x2, tt, IGNORE, gradScale), t + " " + ctx);
                assertArrayEquals(l, t.get(l2), t + " losses without dlogits, " + ctx);
                assertArrayEquals(logits, t.get(x2), t + " logits changed without dlogits, " + ctx);
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void ignoreIndexInsideTheVocabulary(Target t) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", ignore_index 3";
        Random rng = new Random(seed);
        int n = 9, v = 17, ignore = 3;
        float[] logits = t.held(Numerics.normal(rng, n * v, 2f));
        int[] targets = new int[n];
        int expected = 0;
        for (int i = 0; i < n; i++) {
            targets[i] = i % 3 == 0 ? ignore : rng.nextInt(v);
            if (targets[i] != ignore) expected++;
        }
        float[][] ref = reference(logits, targets, n, v, ignore, 1f);
        int count = expected;
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor losses = be.allocate(arena, DType.F32, n), d = be.allocate(arena, t.act(), n, v);
                assertEquals(count, be.crossEntropy(losses, d, t.act(arena, logits, n, v), t.ints(arena, targets, n), ignore, 1f),
                        t + " " + ctx);
                Checks.assertClose(t, "ce losses", t.get(losses), ref[0], t.tol(F32_SHORT), ctx);
                Checks.assertClose(t, "ce dlogits", t.get(d), ref[1], t.tol(STORED), ctx);
            }
        });
    }

    /** V = 104 and 101: a GPU's 16-byte path and its one-element one. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void nanLogitGivesNanLossInItsRowOnly(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 3;
        for (int v : new int[] {104, 101}) {
            float[] logits = t.held(Numerics.normal(rng, n * v, 1f));
            logits[v + 1 + rng.nextInt(v - 1)] = Float.NaN;  // row 1, not its target (column 0)
            String ctx = "seed " + seed + ", V=" + v;
            t.run(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    Backend be = t.backend();
                    Tensor losses = be.allocate(arena, DType.F32, n), x = t.act(arena, logits, n, v);
                    be.crossEntropy(losses, x, x, t.ints(arena, new int[] {5, 0, 7}, n), IGNORE, 1f);
                    float[] l = t.get(losses);
                    assertTrue(Float.isNaN(l[1]), t + " row with a NaN logit: loss " + l[1] + ", " + ctx);
                    assertTrue(Float.isFinite(l[0]) && Float.isFinite(l[2]), t + " other rows: " + l[0] + ", " + l[2] + ", " + ctx);
                }
            });
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void targetOutsideTheVocabularyIsRejectedBeforeAnythingIsWritten(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 5, v = 11;
        float[] logits = t.held(Numerics.normal(rng, n * v, 1f));
        for (int bad : new int[] {v, -1, 1 << 20}) {
            int[] targets = {2, IGNORE, 0, bad, 1};
            float[] before = Numerics.normal(rng, n, 1f);
            String ctx = "seed " + seed + ", target " + bad;
            t.run(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    Backend be = t.backend();
                    Tensor losses = t.f32(arena, before, n), x = t.act(arena, logits, n, v), tt = t.ints(arena, targets, n);
                    var e = assertThrows(IllegalArgumentException.class, () -> be.crossEntropy(losses, x, x, tt, IGNORE, 1f));
                    assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains(String.valueOf(bad)),
                            t + " " + e.getMessage());
                    assertArrayEquals(before, t.get(losses), t + " losses written, " + ctx);
                    assertArrayEquals(logits, t.get(x), t + " logits/dlogits written, " + ctx);
                    if (!t.bf16()) {  // the CPU kernel itself reports the first bad row as -1 - row
                        assertEquals(-1 - 3, CpuKernels.crossEntropy(losses.data(), x.data(), x.data(), tt.data(), n, v,
                                IGNORE, 1f), t + " " + ctx);
                    }
                }
            });
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void shapesThatDoNotFitAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor logits = be.allocate(arena, t.act(), 2, 8), tt = t.ints(arena, new int[] {1, 2}, 2);
            Tensor losses = be.allocate(arena, DType.F32, 2);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> be.crossEntropy(be.allocate(arena, DType.F32, 1), null, logits, tt, IGNORE, 1f));
            assertTrue(e.getMessage().contains("losses"), t + " " + e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> be.crossEntropy(losses, null, be.allocate(arena, t.act(), 17), tt, IGNORE, 1f));  // 17 is not 2 rows
            assertThrows(IllegalArgumentException.class,
                    () -> be.crossEntropy(losses, be.allocate(arena, t.act(), 2, 7), logits, tt, IGNORE, 1f));
        }
    }

    /** losses and dlogits of libtorch in float64: cross_entropy(reduction=none), then (sum * gradScale).backward(). */
    static float[][] reference(float[] logits, int[] targets, int n, int v, int ignore, float gradScale) {
        try (PointerScope scope = new PointerScope()) {
            var x = TorchRef.leaf64(logits, n, v);
            var losses = torch.cross_entropy_loss(x, Torch.longs(targets, n), new TensorOptional(), 0, ignore, 0.0);
            losses.sum().mul(new Scalar((double) gradScale)).backward();
            return new float[][] {Torch.toFloats(losses), Torch.toFloats(x.grad())};
        }
    }
}
