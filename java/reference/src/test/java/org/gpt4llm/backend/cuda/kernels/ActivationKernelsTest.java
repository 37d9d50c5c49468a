package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.BF16_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.bf16;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
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
 * kernels/activations.cu on the emulated device against libtorch (fp32 on the same bf16 inputs;
 * libtorch's own bf16 rounding where a result is exact up to that rounding), on aligned tensors
 * (16-byte path plus a scalar tail) and misaligned ones (scalar path).
 */
class ActivationKernelsTest {
    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("cuda swiglu");
    }

    static Stream<Arguments> sizes() {
        // 4099 spans three blocks of the launch and ends in a tail of 3
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean aligned : new boolean[] {true, false}) {
            for (int n : new int[] {1, 7, 8, 33, 257, 1000, 4099}) b.add(Arguments.of(n, aligned));
        }
        return b.build();
    }

    private static Tensor in(Arena arena, DType dtype, float[] v, boolean aligned) {
        return aligned ? DeviceChecks.upload(arena, dtype, v, v.length) : DeviceChecks.misaligned(arena, dtype, v);
    }

    /** fp32 values rounded to bf16 by libtorch. */
    private static float[] torchBf16(org.bytedeco.pytorch.Tensor t) {
        return Torch.toFloats(t.to(torch.ScalarType.BFloat16));
    }

    @ParameterizedTest(name = "n={0} aligned={1}")
    @MethodSource("sizes")
    void swigluMatchesLibtorch(int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        float[] g = bf16(Numerics.normal(rng, n, 3f));  // both sides of the sigmoid, into saturation
        float[] u = bf16(Numerics.normal(rng, n, 1f));
        float[] dh = bf16(Numerics.normal(rng, n, 1f));

        float[] refH, refDg, refDu;
        try (PointerScope scope = new PointerScope()) {
            var tg = KernelChecks.leaf(g, n);
            var tu = KernelChecks.leaf(u, n);
            var h = torch.silu(tg).mul(tu);
            KernelChecks.backward(h, dh);
            refH = Torch.toFloats(h);
            refDg = Torch.toFloats(tg.grad());
            refDu = Torch.toFloats(tu.grad());
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor tg = in(arena, DType.BF16, g, aligned), tu = in(arena, DType.BF16, u, aligned);
            Tensor h = in(arena, DType.BF16, Numerics.normal(new Random(seed + 1), n, 1f), aligned);  // overwritten
            ActivationKernels.swigluForward(device(), h, tg, tu);
            assertClose("cuda swiglu h", download(h), refH, BF16_TOL, ctx);

            Tensor dg = in(arena, DType.BF16, Numerics.normal(new Random(seed + 2), n, 1f), aligned);  // overwritten
            Tensor du = in(arena, DType.BF16, Numerics.normal(new Random(seed + 3), n, 1f), aligned);
            ActivationKernels.swigluBackward(device(), dg, du, in(arena, DType.BF16, dh, aligned), tg, tu);
            float[] gotDg = download(dg), gotDu = download(du);
            assertClose("cuda swiglu dg", gotDg, refDg, BF16_TOL, ctx);
            assertClose("cuda swiglu du", gotDu, refDu, BF16_TOL, ctx);

            // dgate written over dh itself: the same bits
            Tensor shared = in(arena, DType.BF16, dh, aligned);
            ActivationKernels.swigluBackward(device(), shared, du, shared, tg, tu);
            assertArrayEquals(gotDg, download(shared), "swiglu dg in place of dh, " + ctx);
        }
    }

    @ParameterizedTest(name = "n={0} aligned={1}")
    @MethodSource("sizes")
    void reluAndAddAreExact(int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        float[] x = bf16(Numerics.normal(rng, n, 1f));
        for (int i = 0; i < n; i += 5) x[i] = 0f;  // relu'(0) = 0, as in torch
        float[] dy = bf16(Numerics.normal(rng, n, 1f));
        float[] a = bf16(Numerics.normal(rng, n, 1f));
        float[] b = bf16(Numerics.normal(rng, n, 1f));

        float[] refY, refDx, refSum;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n);
            var y = torch.relu(tx);
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refDx = Torch.toFloats(tx.grad());
            refSum = torchBf16(Torch.floats(a, n).add(Torch.floats(b, n)));  // fp32 sum, one bf16 rounding
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor tx = in(arena, DType.BF16, x, aligned);
            Tensor y = in(arena, DType.BF16, Numerics.normal(new Random(seed + 1), n, 1f), aligned);
            ActivationKernels.reluForward(device(), y, tx);
            assertArrayEquals(refY, download(y), "relu fwd, " + ctx);
            Tensor dx = in(arena, DType.BF16, Numerics.normal(new Random(seed + 2), n, 1f), aligned);
            ActivationKernels.reluBackward(device(), dx, in(arena, DType.BF16, dy, aligned), tx);
            assertArrayEquals(refDx, download(dx), "relu bwd, " + ctx);

            Tensor ta = in(arena, DType.BF16, a, aligned), tb = in(arena, DType.BF16, b, aligned);
            Tensor sum = in(arena, DType.BF16, Numerics.normal(new Random(seed + 3), n, 1f), aligned);
            ActivationKernels.add(device(), sum, ta, tb);
            assertArrayEquals(refSum, download(sum), "add, " + ctx);
            ActivationKernels.add(device(), ta, ta, tb);  // y = a + b in place of a
            assertArrayEquals(refSum, download(ta), "add in place, " + ctx);
        }
    }

    @ParameterizedTest(name = "n={0} aligned={1}")
    @MethodSource("sizes")
    void conversionsAndScaleAreExact(int n, boolean aligned) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", aligned=" + aligned;
        Random rng = new Random(seed);
        float[] f = new float[n];
        // every scale of magnitude, and values bf16 must round: halfway cases, overflow, subnormals
        float[] special = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, -3.3961e38f,
                Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000), Float.intBitsToFloat(0x00012345),
                Float.MIN_VALUE, -1e-39f};
        for (int i = 0; i < n; i++) {
            f[i] = i < special.length && i < n / 2 ? special[i]
                    : (float) (rng.nextGaussian() * Math.pow(2, rng.nextInt(200) - 100));
        }
        float s = (float) rng.nextGaussian();

        float[] refBf16, refScaled;
        try (PointerScope scope = new PointerScope()) {
            refBf16 = torchBf16(Torch.floats(f, n));
            refScaled = Torch.toFloats(Torch.floats(f, n).mul(new Scalar(s)));
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor src = in(arena, DType.F32, f, aligned);
            Tensor b = in(arena, DType.BF16, Numerics.normal(new Random(seed + 1), n, 1f), aligned);
            ActivationKernels.f32ToBf16(device(), b, src);
            assertArrayEquals(refBf16, download(b), "f32 to bf16, " + ctx);
            Tensor back = in(arena, DType.F32, Numerics.normal(new Random(seed + 2), n, 1f), aligned);
            ActivationKernels.bf16ToF32(device(), back, b);
            assertArrayEquals(refBf16, download(back), "bf16 to f32, " + ctx);
            ActivationKernels.scale(device(), src, s);
            assertArrayEquals(refScaled, download(src), "scale by " + s + ", " + ctx);
        }
    }

    @Test
    void badArgumentsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = device().allocate(arena, DType.BF16, 6), f = device().allocate(arena, DType.F32, 6);
            Tensor shorter = device().allocate(arena, DType.BF16, 5);
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.swigluForward(device(), a, a, shorter));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.swigluBackward(device(), a, f, a, a, a));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.reluForward(device(), f, a));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.add(device(), a, a, shorter));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.f32ToBf16(device(), f, a));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.bf16ToF32(device(), f, shorter));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.scale(device(), a, 2f));
        }
    }
}
