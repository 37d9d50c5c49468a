package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The kernels' forms that read a step's values from device memory (what a training step captured as
 * a CUDA graph replays with) against their forms that take the same values as arguments: the same
 * bits. And kernels/step_scalars.cu: the loss sum, and the clip factor that marks a non-finite step.
 */
class StepScalarsLaunchTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void lossSumAddsEveryRowOntoTheAccumulator(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        for (int n : new int[] {1, 31, 257, 3000}) {
            float[] x = Numerics.uniform(rng, n, 0f, 5f);
            double want = 1.5;
            for (float v : x) want += v;
            try (Arena arena = Arena.ofConfined()) {
                Tensor acc = on.put(arena, DType.F32, new float[] {1.5f}, 1);
                StepKernels.lossSum(device, acc, on.put(arena, DType.F32, x, n));
                double got = on.get(acc)[0];
                // fp32 partial sums of positive terms: a few ulps of the total
                assertEquals(want, got, 4e-7 * want * Math.log(n + 1), "n " + n + ", seed " + seed);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void clipFactorIsNanForANonFiniteNormOrLoss(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor clip = device.allocate(arena, DType.F32, 1);
            float[][] cases = {{400f, 1f, 2f}, {0.25f, 1f, 2f}, {400f, 1f, 0f}, {Float.NaN, 1f, 1f},
                    {Float.POSITIVE_INFINITY, 1f, 1f}, {4f, Float.NaN, 1f}};
            for (float[] c : cases) {
                StepKernels.clipFactor(device, clip, on.put(arena, DType.F32, new float[] {c[0]}, 1),
                        on.put(arena, DType.F32, new float[] {c[1]}, 1), c[2]);
                float got = on.get(clip)[0];
                if (!Float.isFinite(c[0]) || !Float.isFinite(c[1])) {
                    assertTrue(Float.isNaN(got), "sumsq " + c[0] + ", loss " + c[1] + " gave " + got);
                } else {
                    float want = c[2] > 0 ? Math.min(1f, c[2] / ((float) Math.sqrt(c[0]) + 1e-6f)) : 1f;
                    assertEquals(want, got, 1e-6f * want, "sumsq " + c[0] + ", max norm " + c[2]);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void adamwWithDeviceScalarsIsTheHostFormAndSkipsAMarkedStep(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 2049;
        float[] p0 = Numerics.normal(rng, n, 0.05f);
        var hp = new Backend.AdamW(0.9f, 0.95f, 1e-8f, 0.1f);
        float[][] lrs = {{1e-3f, 0.7f}, {3e-4f, 1f}, {5e-4f, 0.2f}};  // lr and clip factor per step
        float[][] masters = new float[2][];
        try (Arena arena = Arena.ofConfined()) {
            for (int k = 0; k < 2; k++) {
                Random g = new Random(seed + 1);
                Tensor param = device.allocate(arena, DType.BF16, n), master = on.put(arena, DType.F32, p0, n);
                Tensor m = device.allocate(arena, DType.F32, n), v = device.allocate(arena, DType.F32, n);
                for (int step = 1; step <= lrs.length; step++) {
                    float lr = lrs[step - 1][0], clip = lrs[step - 1][1];
                    Tensor grad = on.put(arena, DType.F32, Numerics.normal(g, n, 1f), n);
                    if (k == 0) {
                        AdamWKernels.adamw(device, param, master, grad, m, v, hp, lr, step, clip, null);
                    } else {
                        AdamWKernels.adamw(device, param, master, grad, m, v, hp, on.scalar(arena, hp.decay(lr)),
                                on.scalar(arena, hp.stepSize(lr, step)), on.scalar(arena, hp.invBc2s(step)), on.scalar(arena, clip));
                    }
                }
                masters[k] = on.get(master);
                if (k == 1) {
                    // a NaN clip factor (step_clip_factor's mark of a non-finite step) changes nothing
                    float[] before = on.get(master), mBefore = on.get(m);
                    AdamWKernels.adamw(device, param, master, on.put(arena, DType.F32, Numerics.normal(g, n, 1f), n), m, v, hp,
                            on.scalar(arena, 1f), on.scalar(arena, 1e-3f), on.scalar(arena, 1f), on.scalar(arena, Float.NaN));
                    assertArrayEquals(before, on.get(master), "master after a marked step, seed " + seed);
                    assertArrayEquals(mBefore, on.get(m), "m after a marked step, seed " + seed);
                }
            }
        }
        assertFalse(java.util.Arrays.equals(p0, masters[0]), "the steps moved the weights");
        assertArrayEquals(masters[0], masters[1], "master weights with the step's scalars on the device, seed " + seed);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void crossEntropyWithADeviceScaleIsTheHostForm(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int rows = 5, vocab = 40;
        float[] logits = Numerics.normal(rng, rows * vocab, 2f);
        int[] targets = {3, -100, 39, 0, 17};
        float scale = 1f / (1 + rng.nextInt(50));
        float[][] grads = new float[2][], losses = new float[2][];
        try (Arena arena = Arena.ofConfined()) {
            for (int k = 0; k < 2; k++) {
                Tensor l = on.put(arena, DType.BF16, logits, rows, vocab), loss = device.allocate(arena, DType.F32, rows);
                Tensor t = on.ints(arena, targets, rows);
                CrossEntropyKernels.crossEntropy(device, loss, l, l, t, targets, -100, k == 0 ? scale : 99f,
                        k == 0 ? null : on.scalar(arena, scale));
                grads[k] = on.get(l);
                losses[k] = on.get(loss);
            }
        }
        assertArrayEquals(grads[0], grads[1], "dlogits with the scale read on the device, seed " + seed);
        assertArrayEquals(losses[0], losses[1], "losses, seed " + seed);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void loraWithTheStepSeedOnTheDeviceIsTheHostFormWithTheAdaptersSeed(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 70, in = 24, out = 20, r = 4, adapter = 9;
        long stepSeed = rng.nextLong();
        float p = 0.3f, scale = 2f;
        float[] x = Numerics.normal(rng, n * in, 1f), a = Numerics.normal(rng, r * in, 0.2f), b = Numerics.normal(rng, out * r, 0.2f);
        float[] dy = Numerics.normal(rng, n * out, 1f);
        float[][][] results = new float[2][][];
        try (Arena arena = Arena.ofConfined(); var workspace = new LoraKernels.Workspace(device)) {
            Tensor onDevice = device.allocate(arena, DType.I64, 1);
            device.upload(onDevice, MemorySegment.ofArray(new long[] {stepSeed}));
            for (int k = 0; k < 2; k++) {
                Tensor tx = on.put(arena, DType.BF16, x, n, in), ta = on.put(arena, DType.BF16, a, r, in);
                Tensor tb = on.put(arena, DType.BF16, b, out, r);
                Tensor y = device.allocate(arena, DType.BF16, n, out), t = device.allocate(arena, DType.F32, n, r);
                Tensor dx = device.allocate(arena, DType.BF16, n, in), dt = device.allocate(arena, DType.F32, n, r);
                Tensor dA = device.allocate(arena, DType.F32, r, in), dB = device.allocate(arena, DType.F32, out, r);
                Tensor tdy = on.put(arena, DType.BF16, dy, n, out);
                if (k == 0) {
                    long s = LoraDropout.adapterSeed(stepSeed, adapter);
                    LoraKernels.forward(device, workspace, y, t, tx, ta, tb, scale, p, s);
                    LoraKernels.backward(device, workspace, dx, dA, dB, dt, tdy, tx, ta, tb, t, scale, p, s);
                } else {
                    var fromStep = LoraKernels.MaskSeed.fromStep(onDevice, adapter);
                    LoraKernels.forward(device, workspace, y, t, tx, ta, tb, scale, p, fromStep);
                    LoraKernels.backward(device, workspace, dx, dA, dB, dt, tdy, tx, ta, tb, t, scale, p, fromStep);
                }
                results[k] = new float[][] {on.get(y), on.get(dx), on.get(dA), on.get(dB)};
            }
            var e = assertThrows(IllegalArgumentException.class,
                    () -> LoraKernels.MaskSeed.fromStep(device.allocate(arena, DType.I32, 1), 0));
            assertTrue(e.getMessage().contains("lora step seed must be I64"), e.getMessage());
        }
        String[] names = {"y", "dx", "dA", "dB"};
        for (int i = 0; i < names.length; i++) {
            assertArrayEquals(results[0][i], results[1][i], names[i] + " with the step seed on the device, seed " + seed);
        }
    }
}
