package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.BF16_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_SHORT_SUM_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.bf16;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.gpt4llm.backend.LoraDropout;
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
 * kernels/lora.cu through the emulation against PEFT's LoRA path written with libtorch ops
 * ({@code y + scale * lora_B(lora_A(dropout(x)))}) and its autograd, on the same bf16 inputs; the
 * reference's dropout mask comes from {@link LoraDropout#scale}, the kernels' documented hash.
 */
class LoraKernelsTest {
    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("lora");
    }

    static Stream<Arguments> cases() {
        // N, in, out, r: odd sizes, tile edges (64), rank 1, a rank that is not a multiple of 16, rank 64
        int[][] shapes = {{70, 100, 90, 8}, {33, 65, 130, 64}, {5, 7, 3, 1}, {130, 48, 40, 37}, {64, 64, 64, 16}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (int[] s : shapes) {
            for (float p : new float[] {0f, 0.25f}) b.add(Arguments.of(s[0], s[1], s[2], s[3], p));
        }
        return b.build();
    }

    @ParameterizedTest(name = "N={0} in={1} out={2} r={3} dropout={4}")
    @MethodSource("cases")
    void matchesLibtorch(int n, int in, int out, int r, float p) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", in=" + in + ", out=" + out + ", r=" + r + ", p=" + p;
        Random rng = new Random(seed);
        long maskSeed = rng.nextLong();
        float scale = 16f / r;  // alpha = 16
        float[] x = bf16(Numerics.normal(rng, n * in, 1f));
        float[] a = bf16(Numerics.normal(rng, r * in, (float) (1 / Math.sqrt(in))));
        float[] b = bf16(Numerics.normal(rng, out * r, (float) (1 / Math.sqrt(r))));
        float[] y0 = bf16(Numerics.normal(rng, n * out, 1f));
        float[] dy = bf16(Numerics.normal(rng, n * out, 1f));
        float[] dx0 = bf16(Numerics.normal(rng, n * in, 1f));
        float[] dA0 = Numerics.normal(rng, r * in, 1f), dB0 = Numerics.normal(rng, out * r, 1f);
        float[] mask = new float[n * in];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < in; j++) mask[i * in + j] = LoraDropout.scale(maskSeed, i, j, p);
        }

        float[] refT, refY, refDt, refDx, refDA, refDB;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n, in);
            var ta = KernelChecks.leaf(a, r, in);
            var tb = KernelChecks.leaf(b, out, r);
            var t = tx.mul(Torch.floats(mask, n, in)).matmul(ta.t());
            var delta = t.matmul(tb.t()).mul(new Scalar(scale));
            KernelChecks.backward(delta, dy);
            refT = Torch.toFloats(t);
            refY = Torch.toFloats(delta.detach().add(Torch.floats(y0, n, out)));
            refDt = Torch.toFloats(Torch.floats(dy, n, out).matmul(tb.detach()).mul(new Scalar(scale)));
            refDx = Torch.toFloats(tx.grad().add(Torch.floats(dx0, n, in)));
            refDA = Torch.toFloats(ta.grad().add(Torch.floats(dA0, r, in)));
            refDB = Torch.toFloats(tb.grad().add(Torch.floats(dB0, out, r)));
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor tx = DeviceChecks.bf16(arena, x, n, in), ta = DeviceChecks.bf16(arena, a, r, in);
            Tensor tb = DeviceChecks.bf16(arena, b, out, r), y = DeviceChecks.bf16(arena, y0, n, out);
            Tensor t = DeviceChecks.f32(arena, Numerics.normal(rng, n * r, 9f), n, r);  // overwritten
            LoraKernels.forward(device(), y, t, tx, ta, tb, scale, p, maskSeed);
            assertClose("lora t", download(t), refT, F32_SHORT_SUM_TOL, ctx);
            assertClose("lora y (+=)", download(y), refY, BF16_TOL, ctx);

            Tensor dx = DeviceChecks.bf16(arena, dx0, n, in), tdy = DeviceChecks.bf16(arena, dy, n, out);
            Tensor dA = DeviceChecks.f32(arena, dA0, r, in), dB = DeviceChecks.f32(arena, dB0, out, r);
            Tensor dt = DeviceChecks.f32(arena, Numerics.normal(rng, n * r, 9f), n, r);  // overwritten
            LoraKernels.backward(device(), dx, dA, dB, dt, tdy, tx, ta, tb, t, scale, p, maskSeed);
            assertClose("lora dt", download(dt), refDt, F32_SHORT_SUM_TOL, ctx);
            assertClose("lora dx (+=)", download(dx), refDx, BF16_TOL, ctx);
            assertClose("lora dA (+=)", download(dA), refDA, F32_SHORT_SUM_TOL, ctx);
            assertClose("lora dB (+=)", download(dB), refDB, F32_SHORT_SUM_TOL, ctx);

            // without dx: the same weight gradients, bit for bit (no atomics: deterministic)
            Tensor dA2 = DeviceChecks.f32(arena, dA0, r, in), dB2 = DeviceChecks.f32(arena, dB0, out, r);
            LoraKernels.backward(device(), null, dA2, dB2, dt, tdy, tx, ta, tb, t, scale, p, maskSeed);
            assertArrayEquals(download(dA), download(dA2), "dA without dx, " + ctx);
            assertArrayEquals(download(dB), download(dB2), "dB without dx, " + ctx);
        }
    }

    /** With A = I and B = I the adapter passes dropout(x) through exactly: the kernels' mask, bit for bit. */
    @Test
    void kernelMaskIsTheDocumentedHash() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 67, r = 16;
        float p = 0.3f;
        long maskSeed = rng.nextLong();
        float[] x = bf16(Numerics.uniform(rng, n * r, 0.5f, 2f));  // never zero: a zero in t is a dropped element
        float[] eye = new float[r * r];
        for (int i = 0; i < r; i++) eye[i * r + i] = 1f;
        float[] expected = new float[n * r];
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < r; j++) {
                float s = LoraDropout.scale(maskSeed, i, j, p);
                expected[i * r + j] = x[i * r + j] * s;
                if (s == 0f) dropped++;
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = device().allocate(arena, DType.F32, n, r), y = device().allocate(arena, DType.BF16, n, r);
            LoraKernels.forward(device(), y, t, DeviceChecks.bf16(arena, x, n, r), DeviceChecks.bf16(arena, eye, r, r),
                    DeviceChecks.bf16(arena, eye, r, r), 1f, p, maskSeed);
            assertArrayEquals(expected, download(t), "t = dropout(x), seed " + seed);
        }
        assertTrue(dropped > 0 && dropped < n * r, dropped + " of " + n * r + " dropped, seed " + seed);
    }

    /** The hash drops about p of the elements, independently of the row and column layout. */
    @Test
    void dropoutRateAndVariety() {
        long seed = TestSeeds.next();
        int rows = 300, cols = 257;
        for (float p : new float[] {0.05f, 0.1f, 0.5f}) {
            int dropped = 0, sameAsNextRow = 0;
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    float s = LoraDropout.scale(seed, i, j, p);
                    assertTrue(s == 0f || s == 1f / (1f - p), "scale " + s);
                    if (s == 0f) dropped++;
                    if ((s == 0f) == (LoraDropout.scale(seed, i + 1, j, p) == 0f)) sameAsNextRow++;
                }
            }
            double rate = dropped / (double) (rows * cols), agree = sameAsNextRow / (double) (rows * cols);
            double sd = Math.sqrt(p * (1 - p) / (rows * cols));
            assertTrue(Math.abs(rate - p) < 5 * sd, "dropout rate " + rate + " for p " + p + ", seed " + seed);
            // independent rows agree with probability p² + (1-p)²
            double pAgree = p * p + (1 - p) * (1 - p);
            assertTrue(Math.abs(agree - pAgree) < 0.02, "rows agree " + agree + " vs " + pAgree + ", seed " + seed);
        }
        assertTrue(LoraDropout.scale(seed, 3, 4, 0f) == 1f);
    }

    @Test
    void argumentsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = device().allocate(arena, DType.BF16, 4, 8), y = device().allocate(arena, DType.BF16, 4, 6);
            Tensor t = device().allocate(arena, DType.F32, 4, 65);
            Tensor bigA = device().allocate(arena, DType.BF16, 65, 8), bigB = device().allocate(arena, DType.BF16, 6, 65);
            var e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, t, x, bigA, bigB, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("rank"), e.getMessage());
            Tensor a = device().allocate(arena, DType.BF16, 2, 8), b = device().allocate(arena, DType.BF16, 6, 3);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, t, x, a, b, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("does not match"), e.getMessage());
            Tensor b2 = device().allocate(arena, DType.BF16, 6, 2), t2 = device().allocate(arena, DType.F32, 4, 2);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, t2, x, a, b2, 1f, 1f, 1));
            assertTrue(e.getMessage().contains("dropout"), e.getMessage());
            Tensor yf = device().allocate(arena, DType.F32, 4, 6);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), yf, t2, x, a, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora y must be BF16"), e.getMessage());
        }
    }
}
