package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.DeviceTensors.bf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The LoRA launchers' own refusals, and the element-wise kernels of kernels/lora.cu on their own:
 * the dropout kernel draws {@link LoraDropout}'s mask, the three bf16 pieces of a float sum to it
 * exactly, and the weight repeat and the piece sum lay out what the GEMMs read. Values of the whole
 * path against libtorch: the LoRA contract test, on every backend.
 */
class LoraLaunchTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launchersRefuseMismatchesWrongTypesAndAForeignWorkspace(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined(); var workspace = new LoraKernels.Workspace(device)) {
            Tensor x = device.allocate(arena, DType.BF16, 4, 8), y = device.allocate(arena, DType.BF16, 4, 6);
            Tensor a = device.allocate(arena, DType.BF16, 2, 8), b = device.allocate(arena, DType.BF16, 6, 3);
            Tensor t = device.allocate(arena, DType.F32, 4, 2);
            var e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device, workspace, y, t, x, a, b, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("does not match"), e.getMessage());
            Tensor b2 = device.allocate(arena, DType.BF16, 6, 2), yf = device.allocate(arena, DType.F32, 4, 6);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device, workspace, yf, t, x, a, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora y must be BF16"), e.getMessage());
            Tensor af = device.allocate(arena, DType.F32, 2, 8);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device, workspace, y, t, x, af, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora A must be BF16"), e.getMessage());
            Tensor bt = device.allocate(arena, DType.BF16, 4, 2);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device, workspace, y, bt, x, a, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora t must be F32"), e.getMessage());
            Tensor dA = device.allocate(arena, DType.F32, 2, 8), dB = device.allocate(arena, DType.BF16, 6, 2);
            e = assertThrows(IllegalArgumentException.class,
                    () -> LoraKernels.backward(device, workspace, x, dA, dB, t, y, x, a, b2, t, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora dB must be F32"), e.getMessage());
            try (var foreign = new LoraKernels.Workspace(new EmuDevice())) {
                e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device, foreign, y, t, x, a, b2, 1f, 0f, 1));
                assertTrue(e.getMessage().contains("Workspace of the device"), e.getMessage());
            }
        }
    }

    /** No tile bounds the rank any more: a rank above 64 gives t = x Aᵀ like any other. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void ranksAboveSixtyFourRun(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 5, in = 24, out = 7, r = 80;
        float[] x = bf16(Numerics.normal(rng, n * in, 1f)), a = bf16(Numerics.normal(rng, r * in, 0.2f));
        try (Arena arena = Arena.ofConfined(); var workspace = new LoraKernels.Workspace(device)) {
            Tensor t = device.allocate(arena, DType.F32, n, r), y = device.allocate(arena, DType.BF16, n, out);
            LoraKernels.forward(device, workspace, y, t, on.put(arena, DType.BF16, x, n, in), on.put(arena, DType.BF16, a, r, in),
                    on.put(arena, DType.BF16, Numerics.normal(rng, out * r, 0.1f), out, r), 2f, 0f, 1);
            float[] expected = new float[n * r];
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < r; k++) {
                    double s = 0;
                    for (int c = 0; c < in; c++) s += (double) x[i * in + c] * a[k * in + c];
                    expected[i * r + k] = (float) s;
                }
            }
            double err = Numerics.relErr(on.get(t), expected);
            assertTrue(err < 1e-6, "t at rank " + r + ": relative error " + err + ", seed " + seed);
        }
    }

    /**
     * The dropout kernel keeps exactly the elements {@link LoraDropout} keeps, with rows of 13 so
     * that the 8-element packs run over row ends: the masked input bit for bit, and dx's masked
     * accumulation leaving dropped elements untouched.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void dropoutKernelDrawsLoraDropoutsMask(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int rows = 9, cols = 13;
        float p = 0.3f, s = 1f / (1f - p);
        long maskSeed = rng.nextLong();
        float[] x = bf16(Numerics.uniform(rng, rows * cols, 0.5f, 2f)), dx0 = bf16(Numerics.normal(rng, rows * cols, 1f));
        float[] g = Numerics.normal(rng, rows * cols, 1f), mask = LoraDropout.mask(maskSeed, rows, cols, p);
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = device.allocate(arena, DType.BF16, rows, cols);
            LoraKernels.dropout(device, out, on.put(arena, DType.BF16, x, rows, cols), null, 1f, p, LoraKernels.MaskSeed.of(maskSeed));
            float[] kept = new float[rows * cols];
            int dropped = 0;
            for (int i = 0; i < kept.length; i++) {
                kept[i] = mask[i] == 0f ? 0f : x[i];
                if (mask[i] == 0f) dropped++;
            }
            assertTrue(dropped > 0 && dropped < kept.length, dropped + " dropped, seed " + seed);
            assertArrayEquals(kept, on.get(out), "keep ⊙ x, seed " + seed);

            Tensor dx = on.put(arena, DType.BF16, dx0, rows, cols);
            LoraKernels.dropout(device, dx, null, on.put(arena, DType.F32, g, rows, cols), s, p, LoraKernels.MaskSeed.of(maskSeed));
            float[] got = on.get(dx);
            for (int i = 0; i < got.length; i++) {
                if (mask[i] == 0f) {
                    assertEquals(dx0[i], got[i], "dropped element " + i + " changed, seed " + seed);
                } else {
                    float want = dx0[i] + s * g[i];
                    assertEquals(want, got[i], Math.abs(want) / 128, "kept element " + i + ", seed " + seed);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void splitPiecesSumToTheFloatExactly(DeviceTensors on) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 1000;
        float[] v = new float[n + 4];
        for (int i = 0; i < n; i++) v[i] = (float) (rng.nextGaussian() * Math.pow(2, rng.nextInt(60) - 30));
        v[n] = 0f;
        v[n + 1] = -1f / 3;
        v[n + 2] = Float.POSITIVE_INFINITY;
        v[n + 3] = Float.NaN;
        try (Arena arena = Arena.ofConfined()) {
            Tensor pieces = device.allocate(arena, DType.BF16, v.length, LoraKernels.PIECES);
            LoraKernels.split(device, pieces, on.put(arena, DType.F32, v, v.length));
            float[] p = on.get(pieces);
            for (int i = 0; i < v.length; i++) {
                float hi = p[3 * i], mid = p[3 * i + 1], lo = p[3 * i + 2];
                if (Float.isNaN(v[i]) || Float.isInfinite(v[i])) {
                    assertTrue(Float.compare(v[i], hi) == 0 && mid == 0f && lo == 0f, v[i] + " -> " + hi + ", " + mid + ", " + lo);
                    continue;
                }
                assertEquals(bf16(new float[] {v[i]})[0], hi, "hi piece of " + v[i] + ", seed " + seed);
                assertEquals((double) v[i], (double) hi + mid + lo, 0.0, "pieces of " + v[i] + ", seed " + seed);
            }
        }
    }

    /** B [out, r] repeats element by element, A [r, in] row by row; the piece sum reads either layout back. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void repeatAndPieceSumLayOutWhatTheGemmsRead(DeviceTensors on) {
        Device device = on.device();
        int rows = 3, cols = 5;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = i + 1;
        try (Arena arena = Arena.ofConfined()) {
            Tensor wt = on.put(arena, DType.BF16, w, rows, cols);
            Tensor elementwise = device.allocate(arena, DType.BF16, rows, 3 * cols);
            Tensor rowwise = device.allocate(arena, DType.BF16, 3 * rows, cols);
            LoraKernels.repeat(device, elementwise, wt, 1);
            LoraKernels.repeat(device, rowwise, wt, cols);
            float[] e = on.get(elementwise), r = on.get(rowwise);
            for (int i = 0; i < rows; i++) {
                for (int c = 0; c < cols; c++) {
                    for (int k = 0; k < 3; k++) {
                        assertEquals(w[i * cols + c], e[i * 3 * cols + 3 * c + k], "element " + i + "," + c + " copy " + k);
                        assertEquals(w[i * cols + c], r[(3 * i + k) * cols + c], "row " + i + " copy " + k + " column " + c);
                    }
                }
            }
            // the sum of three copies, added to what is there
            float[] start = new float[rows * cols];
            Arrays.fill(start, 0.5f);
            for (int width : new int[] {1, cols}) {
                Tensor g = on.put(arena, DType.F32, start, rows, cols);
                Tensor partials = width == 1 ? on.put(arena, DType.F32, e, rows, 3 * cols) : on.put(arena, DType.F32, r, 3 * rows, cols);
                LoraKernels.sumPieces(device, g, partials, width);
                float[] sums = on.get(g);
                for (int i = 0; i < sums.length; i++) assertEquals(0.5f + 3 * w[i], sums[i], "width " + width + ", element " + i);
            }
        }
    }
}
