package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** y = max(x, 0) and its backward against libtorch autograd: both are exact, so bit for bit. */
class ReluTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    static Stream<Arguments> sizes() {
        int[] ns = {1, 7, 33, 257, 16385, 100003};
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
        float[] x = Numerics.normal(rng, n, 2f);
        for (int i = 0; i < n; i += 7) x[i] = 0f;  // relu'(0) = 0, as in torch
        float[] dy = Numerics.normal(rng, n, 1f);

        float[] refY, refDx;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n);
            var y = torch.relu(tx);
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refDx = Torch.toFloats(tx.grad());
        }

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Random junk = new Random(seed + 1);
                Tensor tx = Tensor.of(arena, x, n);
                Tensor y = Tensor.of(arena, Numerics.normal(junk, n, 5f), n);  // overwritten
                CPU.reluForward(y, tx);
                assertArrayEquals(refY, y.toFloatArray(), "relu y, " + ctx);
                Tensor dx = Tensor.of(arena, Numerics.normal(junk, n, 5f), n);  // overwritten
                CPU.reluBackward(dx, Tensor.of(arena, dy, n), tx);
                assertArrayEquals(refDx, dx.toFloatArray(), "relu dx, " + ctx);

                // in place: y over x, dx over dy
                Tensor inPlace = Tensor.of(arena, x, n);
                CPU.reluForward(inPlace, inPlace);
                assertArrayEquals(refY, inPlace.toFloatArray(), "relu y in place of x, " + ctx);
                Tensor grad = Tensor.of(arena, dy, n);
                CPU.reluBackward(grad, grad, tx);
                assertArrayEquals(refDx, grad.toFloatArray(), "relu dx in place of dy, " + ctx);

                // a NaN activation stays visible
                float[] withNan = x.clone();
                int at = rng.nextInt(n);
                withNan[at] = Float.NaN;
                Tensor tn = Tensor.of(arena, withNan, n);
                CPU.reluForward(tn, tn);
                assertTrue(Float.isNaN(tn.toFloatArray()[at]), "relu hid a NaN at " + at + ", " + ctx);
            }
        });
    }
}
