package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Checks.assertClose;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
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
 * SwiGLU (h = silu(g) * u) and ReLU, forward and backward, on every backend against libtorch autograd
 * on the values the backend holds: SwiGLU in float64 by relative error, ReLU bit for bit (it is
 * exact). Tensors aligned (a GPU's 16-byte path plus a tail) and one element off (its one-at-a-time
 * path); outputs pre-filled with junk (they are overwritten) or the buffer of an input.
 */
class ActivationContractTest {
    @AfterAll
    static void report() {
        Checks.report("swiglu");
    }

    /**
     * n, aligned: 4099 spans three blocks of a GPU launch and ends in a tail of 3; 16385 and more are
     * several work chunks of the CPU's threads.
     */
    static Stream<Arguments> sizes() {
        Stream.Builder<Object[]> small = Stream.builder();
        for (boolean aligned : new boolean[] {true, false}) {
            for (int n : new int[] {1, 7, 8, 33, 257, 1000, 4099}) small.add(new Object[] {n, aligned});
        }
        return Stream.concat(Target.crossed(small.build().toArray(Object[][]::new)),
                Target.notEmulated(new Object[] {16385, true}, new Object[] {100003, true}, new Object[] {100003, false}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    private static Tensor in(Target t, Arena arena, float[] v, boolean aligned) {
        return aligned ? t.act(arena, v, v.length) : t.misaligned(arena, t.act(), v);
    }

    /** {h, dg, du} of libtorch in float64 for the upstream gradient dh. */
    private static float[][] swigluReference(float[] g, float[] u, float[] dh) {
        try (PointerScope scope = new PointerScope()) {
            var tg = TorchRef.leaf64(g, g.length);
            var tu = TorchRef.leaf64(u, u.length);
            var h = torch.silu(tg).mul(tu);
            TorchRef.backward(h, dh);
            return new float[][] {Torch.toFloats(h), Torch.toFloats(tg.grad()), Torch.toFloats(tu.grad())};
        }
    }

    @ParameterizedTest(name = "{0} n={1} aligned={2}")
    @MethodSource("sizes")
    void swigluMatchesLibtorch(Target t, int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        float[] g = Numerics.normal(rng, n, 3f);  // both sides of the sigmoid, into saturation
        // the sigmoid's tails and the exp's range: large |g| in some places
        float[] extremes = {-120f, -90f, -87.5f, -30f, -17f, 17f, 30f, 90f, 120f, -0f};
        for (int k = 0; k < Math.min(extremes.length, n / 3); k++) g[rng.nextInt(n)] = extremes[k];
        float[] gh = t.held(g), u = t.held(Numerics.normal(rng, n, 1f)), dh = t.held(Numerics.normal(rng, n, 1f));
        float[][] ref = swigluReference(gh, u, dh);

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Random junk = new Random(seed + 1);
                Tensor tg = in(t, arena, gh, aligned), tu = in(t, arena, u, aligned);
                Tensor h = in(t, arena, Numerics.normal(junk, n, 5f), aligned);  // overwritten
                be.swigluForward(h, tg, tu);
                assertClose(t, "swiglu h", t.get(h), ref[0], t.tol(STORED), ctx);

                Tensor dg = in(t, arena, Numerics.normal(junk, n, 5f), aligned);  // overwritten
                Tensor du = in(t, arena, Numerics.normal(junk, n, 5f), aligned);
                be.swigluBackward(dg, du, in(t, arena, dh, aligned), tg, tu);
                float[] gotDg = t.get(dg), gotDu = t.get(du);
                assertClose(t, "swiglu dg", gotDg, ref[1], t.tol(STORED), ctx);
                assertClose(t, "swiglu du", gotDu, ref[2], t.tol(STORED), ctx);

                // either gradient written over dh itself: the same bits
                Tensor shared = in(t, arena, dh, aligned);
                be.swigluBackward(shared, du, shared, tg, tu);
                assertArrayEquals(gotDg, t.get(shared), t + " swiglu dg in place of dh, " + ctx);
                shared = in(t, arena, dh, aligned);
                be.swigluBackward(dg, shared, shared, tg, tu);
                assertArrayEquals(gotDu, t.get(shared), t + " swiglu du in place of dh, " + ctx);
            }
        });
    }

    @ParameterizedTest(name = "{0} n={1} aligned={2}")
    @MethodSource("sizes")
    void reluIsExact(Target t, int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        float[] x = t.held(Numerics.normal(rng, n, 2f));
        for (int i = 0; i < n; i += 7) x[i] = 0f;  // relu'(0) = 0, as in torch
        float[] dy = t.held(Numerics.normal(rng, n, 1f));
        float[] refY, refDx;
        try (PointerScope scope = new PointerScope()) {
            var tx = TorchRef.leaf(x, n);
            var y = torch.relu(tx);
            TorchRef.backward(y, dy);
            refY = Torch.toFloats(y);
            refDx = Torch.toFloats(tx.grad());
        }

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Random junk = new Random(seed + 1);
                Tensor tx = in(t, arena, x, aligned);
                Tensor y = in(t, arena, Numerics.normal(junk, n, 5f), aligned);  // overwritten
                be.reluForward(y, tx);
                assertArrayEquals(refY, t.get(y), t + " relu y, " + ctx);
                Tensor dx = in(t, arena, Numerics.normal(junk, n, 5f), aligned);  // overwritten
                be.reluBackward(dx, in(t, arena, dy, aligned), tx);
                assertArrayEquals(refDx, t.get(dx), t + " relu dx, " + ctx);

                // in place: y over x, dx over dy
                Tensor inPlace = in(t, arena, x, aligned);
                be.reluForward(inPlace, inPlace);
                assertArrayEquals(refY, t.get(inPlace), t + " relu y in place of x, " + ctx);
                Tensor grad = in(t, arena, dy, aligned);
                be.reluBackward(grad, grad, tx);
                assertArrayEquals(refDx, t.get(grad), t + " relu dx in place of dy, " + ctx);
            }
        });
    }

    /** A NaN activation stays visible through ReLU, as through torch's, instead of becoming 0. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void reluKeepsANan(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 37, at = rng.nextInt(n);
        float[] x = Numerics.normal(rng, n, 1f);
        x[at] = Float.NaN;
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tx = t.act(arena, x, n);
                t.backend().reluForward(tx, tx);
                assertTrue(Float.isNaN(t.get(tx)[at]), t + " relu hid a NaN at " + at + ", seed " + seed);
            }
        });
    }

    /** Sizes that differ, and tensors not of the backend's activation type, are refused before any launch. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void mismatchedTensorsAreRefused(Target t) {
        Backend be = t.backend();
        DType other = t.bf16() ? DType.F32 : DType.BF16;
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = be.allocate(arena, t.act(), 6), shorter = be.allocate(arena, t.act(), 5);
            Tensor wrong = be.allocate(arena, other, 6);
            assertThrows(IllegalArgumentException.class, () -> be.swigluForward(a, a, shorter));
            assertThrows(IllegalArgumentException.class, () -> be.swigluForward(wrong, a, a));
            assertThrows(IllegalArgumentException.class, () -> be.swigluBackward(a, shorter, a, a, a));
            assertThrows(IllegalArgumentException.class, () -> be.swigluBackward(a, wrong, a, a, a));
            assertThrows(IllegalArgumentException.class, () -> be.reluForward(shorter, a));
            assertThrows(IllegalArgumentException.class, () -> be.reluForward(wrong, a));
            assertThrows(IllegalArgumentException.class, () -> be.reluBackward(a, shorter, a));
            assertThrows(IllegalArgumentException.class, () -> be.reluBackward(a, a, wrong));
        }
    }
}
