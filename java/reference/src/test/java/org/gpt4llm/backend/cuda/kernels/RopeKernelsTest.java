package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.BF16_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.bf16;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.ints;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.gpt4llm.backend.cpu.KernelChecks;
import org.gpt4llm.backend.cpu.RopeTest;
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

/** kernels/rope.cu on the emulated device against HF's rotary embedding in libtorch (fp32, same bf16 inputs). */
class RopeKernelsTest {
    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("cuda rope");
    }

    static Stream<Arguments> shapes() {
        // N, H, D, max position: D/2 % 8 == 0 (D = 64, 96, 128) takes the 16-byte path
        int[][] s = {{1, 1, 2, 8}, {3, 2, 6, 100}, {19, 3, 64, 2048}, {7, 4, 128, 4096}, {3, 1, 18, 512},
                {5, 2, 96, 8192}, {1, 5, 34, 1}};
        return Arrays.stream(s).map(r -> Arguments.of(r[0], r[1], r[2], r[3]));
    }

    @ParameterizedTest(name = "N={0} H={1} D={2} maxPos={3}")
    @MethodSource("shapes")
    void matchesHuggingFace(int n, int h, int d, int maxPos) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float theta = rng.nextBoolean() ? 10000f : 500000f;
        String ctx = "seed " + seed + ", N=" + n + ", H=" + h + ", D=" + d + ", theta " + theta;
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) pos[i] = rng.nextInt(maxPos);
        pos[n - 1] = maxPos - 1;  // the largest angle always occurs
        float[] x = bf16(Numerics.normal(rng, n * h * d, 1.0f));
        float[] dy = bf16(Numerics.normal(rng, n * h * d, 1.0f));

        float[] refY, refDx;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n, h, d);
            var y = RopeTest.hfRope(tx, pos, d, theta);
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refDx = Torch.toFloats(tx.grad());
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor positions = ints(arena, pos, n);
            Tensor tx = DeviceChecks.bf16(arena, x, n, h * d);
            RopeKernels.ropeForward(device(), tx, positions, h, d, theta);
            float[] y = download(tx);
            assertClose("cuda rope fwd", y, refY, BF16_TOL, ctx);
            Tensor g = DeviceChecks.bf16(arena, dy, n, h * d);
            RopeKernels.ropeBackward(device(), g, positions, h, d, theta);
            assertClose("cuda rope bwd", download(g), refDx, BF16_TOL, ctx);
            // backward is the inverse rotation: applied to the forward output it gives x back, up to
            // the two bf16 roundings in between
            RopeKernels.ropeBackward(device(), tx, positions, h, d, theta);
            assertClose("cuda rope bwd(fwd(x))", download(tx), x, 2 * BF16_TOL, ctx);
        }
    }

    @Test
    void badArgumentsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor pos = device().allocate(arena, DType.I32, 2);
            Tensor x = device().allocate(arena, DType.BF16, 2, 12);
            assertThrows(IllegalArgumentException.class, () -> RopeKernels.ropeForward(device(), x, pos, 2, 3, 1e4f));  // odd D
            assertThrows(IllegalArgumentException.class, () -> RopeKernels.ropeForward(device(), x, pos, 3, 6, 1e4f));  // 2 x 18
            assertThrows(IllegalArgumentException.class, () -> RopeKernels.ropeBackward(device(),
                    device().allocate(arena, DType.F32, 2, 12), pos, 2, 6, 1e4f));                                   // not BF16
            assertThrows(IllegalArgumentException.class, () -> RopeKernels.ropeForward(device(), x,
                    device().allocate(arena, DType.F32, 2), 2, 6, 1e4f));                                            // positions not I32
        }
    }
}
