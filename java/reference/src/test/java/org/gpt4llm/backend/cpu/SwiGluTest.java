package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** h = silu(g) * u and its backward against libtorch autograd. */
class SwiGluTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("swiglu");
    }

    static Stream<Arguments> sizes() {
        int[] ns = {1, 7, 33, 257, 4099, 100003};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int n : ns) b.add(Arguments.of(n, scalar));
        }
        return b.build();
    }

    @ParameterizedTest(name = "n={0} scalar={1}")
    @MethodSource("sizes")
    void matchesLibtorch(int n, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", n=" + n + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float[] g = Numerics.normal(rng, n, 3.0f);
        // the sigmoid's tails and the exp clamp: large |g| in some places
        float[] extremes = {-120f, -90f, -87.5f, -30f, -17f, 17f, 30f, 90f, 120f, -0f};
        for (int k = 0; k < Math.min(extremes.length, n / 3); k++) g[rng.nextInt(n)] = extremes[k];
        float[] u = Numerics.normal(rng, n, 1.0f);
        float[] dh = Numerics.normal(rng, n, 1.0f);

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

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Random junk = new Random(seed + 1);
                Tensor tg = Tensor.of(arena, g, n), tu = Tensor.of(arena, u, n);
                Tensor h = Tensor.of(arena, Numerics.normal(junk, n, 5f), n);  // overwritten
                CPU.swigluForward(h, tg, tu);
                assertClose("swiglu h", h.toFloatArray(), refH, FP32_TOL, ctx);
                Tensor dg = Tensor.of(arena, Numerics.normal(junk, n, 5f), n);  // overwritten
                Tensor du = Tensor.of(arena, Numerics.normal(junk, n, 5f), n);
                CPU.swigluBackward(dg, du, Tensor.of(arena, dh, n), tg, tu);
                assertClose("swiglu dg", dg.toFloatArray(), refDg, FP32_TOL, ctx);
                assertClose("swiglu du", du.toFloatArray(), refDu, FP32_TOL, ctx);
            }
        });
    }
}
