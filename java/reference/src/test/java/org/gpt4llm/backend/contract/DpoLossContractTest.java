package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchDpoLoss;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The DPO loss on every backend against {@link TorchDpoLoss} (TRL's dpo_loss in libtorch ops) and its
 * libtorch autograd gradient with respect to the policy's log-probabilities, in float64: the loss,
 * d chosen, d rejected and TRL's reward metrics, for each loss type, with and without label smoothing,
 * with a reference, reference-free, and with no reference at all; pairs far apart (β z at ±30) among
 * ordinary ones; a pair count that is not a multiple of the SIMD width. Inputs and outputs are F32 on
 * every backend, from short sums: {@code F32_SHORT}.
 */
class DpoLossContractTest {
    @AfterAll
    static void report() {
        Checks.report("dpo");
    }

    /** type, beta, label smoothing. */
    private static final Object[][] LOSSES = {
        {"sigmoid", 0.1f, 0f}, {"sigmoid", 0.5f, 0.2f}, {"ipo", 0.1f, 0f}, {"ipo", 0.5f, 0f},
        {"hinge", 0.1f, 0f}, {"hinge", 1.0f, 0f}};

    static Stream<Arguments> losses() {
        Stream.Builder<Object[]> b = Stream.builder();
        for (Object[] l : LOSSES) {
            b.add(new Object[] {l[0], l[1], l[2], false});
            b.add(new Object[] {l[0], l[1], l[2], true});
        }
        return Target.crossed(b.build().toArray(Object[][]::new));
    }

    static Stream<Arguments> types() {
        return Target.crossed(new Object[][] {{"sigmoid"}, {"ipo"}, {"hinge"}});
    }

    @ParameterizedTest(name = "{0} {1} beta={2} ls={3} referenceFree={4}")
    @MethodSource("losses")
    void matchesLibtorch(Target t, String type, float beta, float labelSmoothing, boolean referenceFree) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int p = 37;  // four groups of eight and a tail of five
        float[][] in = logProbs(rng, p);
        // two pairs far apart: β z at +30 and -30 (the log-sigmoid neither overflows nor loses the small side)
        in[0][3] = in[1][3] + 30f / beta + (in[2][3] - in[3][3]);
        in[0][17] = in[1][17] - 30f / beta + (in[2][17] - in[3][17]);
        DpoLoss settings = new DpoLoss(DpoLoss.Type.parse(type), beta, labelSmoothing, referenceFree);
        check(t, settings, in, false, "seed " + seed + ", " + settings);
    }

    /** No reference tensors: the same as a reference of zeros, reference-free or not. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("types")
    void noReferenceIsZeros(Target t, String type) {
        long seed = TestSeeds.next();
        float[][] in = logProbs(new Random(seed), 13);
        in[2] = new float[13];
        in[3] = new float[13];
        DpoLoss settings = new DpoLoss(DpoLoss.Type.parse(type), 0.25f, 0f, true);
        check(t, settings, in, true, "seed " + seed + ", " + settings + ", no reference");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#all")
    void oneReferenceWithoutTheOtherIsRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor loss = be.allocate(arena, DType.F32, 1), metrics = be.allocate(arena, DType.F32, 4);
            Tensor[] v = new Tensor[5];
            for (int i = 0; i < v.length; i++) v[i] = be.allocate(arena, DType.F32, 3);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> be.dpoLoss(loss, metrics, v[0], v[1], v[2], v[3], v[4], null, DpoLoss.sigmoid(0.1f)));
            assertTrue(e.getMessage().contains("reference"), t + " " + e.getMessage());
        }
    }

    @Test
    void badSettingsAreRefused() {
        for (float beta : new float[] {0f, -0.1f, Float.NaN}) {
            var e = assertThrows(IllegalArgumentException.class, () -> DpoLoss.sigmoid(beta));
            assertTrue(e.getMessage().contains("--beta"), e.getMessage());
        }
        var smoothing = assertThrows(IllegalArgumentException.class,
                () -> new DpoLoss(DpoLoss.Type.SIGMOID, 0.1f, 0.5f, false));
        assertTrue(smoothing.getMessage().contains("--label-smoothing"), smoothing.getMessage());
        var ipo = assertThrows(IllegalArgumentException.class, () -> new DpoLoss(DpoLoss.Type.IPO, 0.1f, 0.1f, false));
        assertTrue(ipo.getMessage().contains("sigmoid"), ipo.getMessage());
        var name = assertThrows(IllegalArgumentException.class, () -> DpoLoss.Type.parse("orpo"));
        assertTrue(name.getMessage().contains("--loss"), name.getMessage());
    }

    /** {policy chosen, policy rejected, reference chosen, reference rejected}: summed log-probabilities of tens of tokens. */
    private static float[][] logProbs(Random rng, int p) {
        float[][] out = new float[4][];
        float[] base = Numerics.normal(rng, p, 6f);
        for (int k = 0; k < 4; k++) {
            out[k] = Numerics.normal(rng, p, 3f);
            for (int i = 0; i < p; i++) out[k][i] += base[i] - 25f;
        }
        return out;
    }

    /** Runs the loss into garbage-filled outputs (without reference tensors when {@code noReference}) and checks all four. */
    private static void check(Target t, DpoLoss s, float[][] in, boolean noReference, String ctx) {
        int p = in[0].length;
        double[][] ref = reference(in, s);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Random garbage = new Random(p);
                Tensor loss = t.f32(arena, new float[] {7f}, 1);
                Tensor metrics = t.f32(arena, Numerics.normal(garbage, 4, 1f), 4);
                Tensor dc = t.f32(arena, Numerics.normal(garbage, p, 1f), p);
                Tensor dr = t.f32(arena, Numerics.normal(garbage, p, 1f), p);
                Tensor[] v = new Tensor[4];
                for (int k = 0; k < 4; k++) v[k] = t.f32(arena, in[k], p);
                be.dpoLoss(loss, metrics, dc, dr, v[0], v[1], noReference ? null : v[2], noReference ? null : v[3], s);
                double tol = t.tol(F32_SHORT);
                Checks.assertClose(t, "dpo loss", t.get(loss), floats(ref[0]), tol, ctx);
                Checks.assertClose(t, "dpo d chosen", t.get(dc), floats(ref[1]), tol, ctx);
                Checks.assertClose(t, "dpo d rejected", t.get(dr), floats(ref[2]), tol, ctx);
                Checks.assertClose(t, "dpo metrics", t.get(metrics), floats(ref[3]), tol, ctx);
            }
        });
    }

    private static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    /** {{loss}, d chosen, d rejected, metrics} from libtorch autograd in float64. */
    static double[][] reference(float[][] in, DpoLoss s) {
        int p = in[0].length;
        try (PointerScope scope = new PointerScope()) {
            var pc = TorchRef.leaf64(in[0], p);
            var pr = TorchRef.leaf64(in[1], p);
            var rc = TorchRef.f64(in[2], p);
            var rr = TorchRef.f64(in[3], p);
            var loss = TorchDpoLoss.losses(pc, pr, rc, rr, s.type().label(), s.beta(), s.labelSmoothing(),
                    s.referenceFree()).mean();
            loss.backward();
            return new double[][] {{loss.item_double()}, doubles(Torch.toFloats(pc.grad())),
                    doubles(Torch.toFloats(pr.grad())), TorchDpoLoss.metrics(pc, pr, rc, rr, s.beta())};
        }
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
