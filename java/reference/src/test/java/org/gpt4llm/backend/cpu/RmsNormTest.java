package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.add;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** RMSNorm forward and backward against libtorch autograd (HF LlamaRMSNorm written with torch ops). */
class RmsNormTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("rmsnorm");
    }

    static Stream<Arguments> shapes() {
        int[][] nc = {{1, 1}, {3, 7}, {19, 33}, {1, 257}, {19, 257}, {3, 2048}, {300, 64}, {67, 1000}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int[] s : nc) b.add(Arguments.of(s[0], s[1], scalar));
        }
        return b.build();
    }

    @ParameterizedTest(name = "N={0} C={1} scalar={2}")
    @MethodSource("shapes")
    void matchesLibtorch(int n, int c, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", C=" + c + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float eps = rng.nextBoolean() ? 1e-5f : 1e-6f;
        float[] x = Numerics.normal(rng, n * c, 2.0f);
        float[] w = Numerics.uniform(rng, c, 0.5f, 1.5f);
        float[] dy = Numerics.normal(rng, n * c, 1.0f);
        float[] dx0 = Numerics.normal(rng, n * c, 1.0f);  // accumulate targets, pre-filled
        float[] dw0 = Numerics.normal(rng, c, 1.0f);

        float[] refY, refRstd, refDx, refDw;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n, c);
            var tw = KernelChecks.leaf(w, c);
            var rstd = tx.pow(new Scalar(2.0)).mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional())
                    .add(new Scalar(eps)).rsqrt();
            var y = tw.mul(tx.mul(rstd));
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refRstd = Torch.toFloats(rstd);
            refDx = Torch.toFloats(tx.grad());
            refDw = Torch.toFloats(tw.grad());
        }

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tx = Tensor.of(arena, x, n, c), tw = Tensor.of(arena, w, c);
                Tensor y = Tensor.of(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);  // overwritten
                Tensor rstd = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, n);
                CPU.rmsnormForward(y, rstd, tx, tw, eps);
                assertClose("rmsnorm y", y.toFloatArray(), refY, FP32_TOL, ctx);
                assertClose("rmsnorm rstd", rstd.toFloatArray(), refRstd, FP32_TOL, ctx);

                // dx's terms are rstd*w*dy and x*rstd^3/C*dot; their difference is what is compared
                float[] term = new float[n * c];
                float[] r = rstd.toFloatArray();
                for (int i = 0; i < n * c; i++) term[i] = r[i / c] * w[i % c] * dy[i];

                // into zeroed outputs: the gradients themselves
                Tensor dxz = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, n, c);
                Tensor dwz = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, c);
                CPU.rmsnormBackward(dxz, dwz, Tensor.of(arena, dy, n, c), tx, tw, rstd);
                KernelChecks.assertCloseScaled("rmsnorm dx", dxz.toFloatArray(), refDx, term, FP32_TOL, ctx);
                assertClose("rmsnorm dw", dwz.toFloatArray(), refDw, FP32_TOL, ctx);

                // into pre-filled outputs: both accumulate (measured against the pre-filled values
                // too, since their sum with the gradient may cancel)
                Tensor dx = Tensor.of(arena, dx0, n, c), dw = Tensor.of(arena, dw0, c);
                CPU.rmsnormBackward(dx, dw, Tensor.of(arena, dy, n, c), tx, tw, rstd);
                float[] dxScale = new float[n * c];
                for (int i = 0; i < n * c; i++) dxScale[i] = Math.abs(dx0[i]) + Math.abs(term[i]);
                KernelChecks.assertCloseScaled("rmsnorm dx (+=)", dx.toFloatArray(), add(dx0, refDx), dxScale, FP32_TOL, ctx);
                KernelChecks.assertCloseScaled("rmsnorm dw (+=)", dw.toFloatArray(), add(dw0, refDw), dw0, FP32_TOL, ctx);

                // deterministic: the same call again gives the same bits
                Tensor dx2 = Tensor.of(arena, dx0, n, c), dw2 = Tensor.of(arena, dw0, c);
                CPU.rmsnormBackward(dx2, dw2, Tensor.of(arena, dy, n, c), tx, tw, rstd);
                assertArrayEquals(dx.toFloatArray(), dx2.toFloatArray(), "dx not deterministic, " + ctx);
                assertArrayEquals(dw.toFloatArray(), dw2.toFloatArray(), "dw not deterministic, " + ctx);
            }
        });
    }
}
