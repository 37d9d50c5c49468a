package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.LoraDropout;
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
 * The LoRA adapter path (Backend.loraForward / loraBackward) on every backend against PEFT's
 * {@code y + scale * lora_B(lora_A(dropout(x)))} written with libtorch ops and its autograd, in
 * float64 on the values the backend holds; the reference's dropout mask is {@link LoraDropout#scale},
 * the hash every backend documents. t and dt are overwritten; y, dx, dA and dB accumulate onto
 * pre-filled values; the weight gradients come out the same without dx; with A = B = I the saved t is
 * dropout(x) bit for bit; adapters that do not fit are refused. t, dt, dA, dB are fp32 from short
 * sums ({@code F32_SHORT}); y and dx are stored activations ({@code STORED}).
 */
class LoraContractTest {
    @AfterAll
    static void report() {
        Checks.report("lora");
    }

    private static Object[][] withDropout(int[]... shapes) {
        Object[][] out = new Object[shapes.length * 2][];
        for (int i = 0; i < shapes.length; i++) {
            int[] s = shapes[i];
            out[2 * i] = new Object[] {s[0], s[1], s[2], s[3], 0f};
            out[2 * i + 1] = new Object[] {s[0], s[1], s[2], s[3], 0.25f};
        }
        return out;
    }

    /**
     * N, in, out, r: odd sizes (rows that end inside the dropout kernel's 8-element packs), 64-row
     * edges, rank 1, a rank that is not a multiple of 8, rank 64.
     */
    static Stream<Arguments> cases() {
        return Stream.concat(Target.crossed(withDropout(new int[] {70, 100, 90, 8}, new int[] {33, 65, 130, 64},
                        new int[] {5, 7, 3, 1}, new int[] {130, 48, 40, 37}, new int[] {64, 64, 64, 16})),
                Target.notEmulated(withDropout(new int[] {300, 512, 384, 16}, new int[] {257, 320, 288, 64})));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    @ParameterizedTest(name = "{0} N={1} in={2} out={3} r={4} dropout={5}")
    @MethodSource("cases")
    void matchesLibtorch(Target t, int n, int in, int out, int r, float p) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", in=" + in + ", out=" + out + ", r=" + r + ", p=" + p;
        Random rng = new Random(seed);
        long maskSeed = rng.nextLong();
        float scale = 16f / r;  // alpha = 16
        float[] x = t.held(Numerics.normal(rng, n * in, 1f));
        float[] a = t.held(Numerics.normal(rng, r * in, (float) (1 / Math.sqrt(in))));
        float[] b = t.held(Numerics.normal(rng, out * r, (float) (1 / Math.sqrt(r))));
        float[] y0 = t.held(Numerics.normal(rng, n * out, 1f));
        float[] dy = t.held(Numerics.normal(rng, n * out, 1f));
        float[] dx0 = t.held(Numerics.normal(rng, n * in, 1f));
        float[] dA0 = Numerics.normal(rng, r * in, 1f), dB0 = Numerics.normal(rng, out * r, 1f);
        float[] mask = LoraDropout.mask(maskSeed, n, in, p);

        float[] refT, refY, refDt, refDx, refDA, refDB;
        try (PointerScope scope = new PointerScope()) {
            var tx = TorchRef.leaf64(x, n, in);
            var ta = TorchRef.leaf64(a, r, in);
            var tb = TorchRef.leaf64(b, out, r);
            var tt = tx.mul(TorchRef.f64(mask, n, in)).matmul(ta.t());
            var delta = tt.matmul(tb.t()).mul(new Scalar((double) scale));
            TorchRef.backward(delta, dy);
            refT = Torch.toFloats(tt);
            refY = Torch.toFloats(delta.detach().add(TorchRef.f64(y0, n, out)));
            refDt = Torch.toFloats(TorchRef.f64(dy, n, out).matmul(tb.detach()).mul(new Scalar((double) scale)));
            refDx = Torch.toFloats(tx.grad().add(TorchRef.f64(dx0, n, in)));
            refDA = Torch.toFloats(ta.grad().add(TorchRef.f64(dA0, r, in)));
            refDB = Torch.toFloats(tb.grad().add(TorchRef.f64(dB0, out, r)));
        }

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Random junk = new Random(seed + 1);
                Tensor tx = t.act(arena, x, n, in), ta = t.put(arena, be.weightType(), a, r, in);
                Tensor tb = t.put(arena, be.weightType(), b, out, r), y = t.act(arena, y0, n, out);
                Tensor tt = t.f32(arena, Numerics.normal(junk, n * r, 9f), n, r);  // overwritten
                be.loraForward(y, tt, tx, ta, tb, scale, p, maskSeed);
                Checks.assertClose(t, "lora t", t.get(tt), refT, t.tol(F32_SHORT), ctx);
                Checks.assertClose(t, "lora y (+=)", t.get(y), refY, t.tol(STORED), ctx);

                Tensor dx = t.act(arena, dx0, n, in), tdy = t.act(arena, dy, n, out);
                Tensor dA = t.f32(arena, dA0, r, in), dB = t.f32(arena, dB0, out, r);
                Tensor dt = t.f32(arena, Numerics.normal(junk, n * r, 9f), n, r);  // overwritten
                be.loraBackward(dx, dA, dB, dt, tdy, tx, ta, tb, tt, scale, p, maskSeed);
                Checks.assertClose(t, "lora dt", t.get(dt), refDt, t.tol(F32_SHORT), ctx);
                Checks.assertClose(t, "lora dx (+=)", t.get(dx), refDx, t.tol(STORED), ctx);
                Checks.assertClose(t, "lora dA (+=)", t.get(dA), refDA, t.tol(F32_SHORT), ctx);
                Checks.assertClose(t, "lora dB (+=)", t.get(dB), refDB, t.tol(F32_SHORT), ctx);

                // without dx: the same weight gradients, bit for bit
                Tensor dA2 = t.f32(arena, dA0, r, in), dB2 = t.f32(arena, dB0, out, r);
                be.loraBackward(null, dA2, dB2, dt, tdy, tx, ta, tb, tt, scale, p, maskSeed);
                assertArrayEquals(t.get(dA), t.get(dA2), t + " dA without dx, " + ctx);
                assertArrayEquals(t.get(dB), t.get(dB2), t + " dB without dx, " + ctx);
            }
        });
    }

    /** With A = I and B = I the adapter passes dropout(x) through exactly: the backend's mask, bit for bit. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void maskIsTheDocumentedHash(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 67, r = 16;
        float p = 0.3f;
        long maskSeed = rng.nextLong();
        float[] x = t.held(Numerics.uniform(rng, n * r, 0.5f, 2f));  // never zero: a zero in t is a dropped element
        float[] eye = new float[r * r];
        for (int i = 0; i < r; i++) eye[i * r + i] = 1f;
        float[] mask = LoraDropout.mask(maskSeed, n, r, p);
        float[] expected = new float[n * r];
        int dropped = 0;
        for (int i = 0; i < n * r; i++) {
            expected[i] = x[i] * mask[i];
            if (mask[i] == 0f) dropped++;
        }
        assertTrue(dropped > 0 && dropped < n * r, dropped + " of " + n * r + " dropped, seed " + seed);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor tt = be.allocate(arena, DType.F32, n, r), y = be.allocate(arena, t.act(), n, r);
                Tensor id = t.put(arena, be.weightType(), eye, r, r);
                be.loraForward(y, tt, t.act(arena, x, n, r), id, id, 1f, p, maskSeed);
                assertArrayEquals(expected, t.get(tt), t + " t = dropout(x), seed " + seed);
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void adaptersThatDoNotFitAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            DType w = be.weightType();
            Tensor x = be.allocate(arena, t.act(), 4, 8), y = be.allocate(arena, t.act(), 4, 6);
            Tensor a = be.allocate(arena, w, 2, 8), b = be.allocate(arena, w, 6, 2), tt = be.allocate(arena, DType.F32, 4, 2);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> be.loraForward(y, tt, x, a, be.allocate(arena, w, 6, 3), 1f, 0f, 1));       // B not [out, r]
            assertTrue(e.getMessage().contains("lora"), t + " " + e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> be.loraForward(y, tt, be.allocate(arena, t.act(), 4, 7), a, b, 1f, 0f, 1)); // x not rows of in
            assertTrue(e.getMessage().contains("rows of 8"), t + " " + e.getMessage());
            for (float p : new float[] {1f, -0.1f, Float.NaN}) {
                e = assertThrows(IllegalArgumentException.class, () -> be.loraForward(y, tt, x, a, b, 1f, p, 1));
                assertTrue(e.getMessage().contains("dropout"), t + " " + e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> be.loraBackward(x, be.allocate(arena, DType.F32, 2, 8),
                        be.allocate(arena, DType.F32, 6, 2), tt, y, x, a, b, tt, 1f, p, 1));
                assertTrue(e.getMessage().contains("dropout"), t + " " + e.getMessage());
            }
        }
    }
}
