package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.add;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
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

/** Embedding lookup and its (deterministic, accumulating) backward against libtorch autograd. */
class EmbeddingTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("embedding");
    }

    static Stream<Arguments> shapes() {
        // V, C, N: small vocabularies force repeated ids
        int[][] s = {{5, 1, 19}, {11, 7, 3}, {50, 33, 1}, {3, 257, 19}, {1, 9, 5}, {1000, 1024, 64}, {7, 100, 500}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int[] r : s) b.add(Arguments.of(r[0], r[1], r[2], scalar));
        }
        return b.build();
    }

    @ParameterizedTest(name = "V={0} C={1} N={2} scalar={3}")
    @MethodSource("shapes")
    void matchesLibtorch(int v, int c, int n, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", V=" + v + ", C=" + c + ", N=" + n + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float[] table = Numerics.normal(rng, v * c, 1.0f);
        int[] tok = new int[n];
        for (int i = 0; i < n; i++) tok[i] = rng.nextInt(v);
        float[] dout = Numerics.normal(rng, n * c, 1.0f);
        float[] dtable0 = Numerics.normal(rng, v * c, 1.0f);  // accumulate target, pre-filled

        float[] refOut, refGrad;
        try (PointerScope scope = new PointerScope()) {
            var tt = KernelChecks.leaf(table, v, c);
            var out = torch.embedding(tt, Torch.longs(tok, n));
            KernelChecks.backward(out, dout);
            refOut = Torch.toFloats(out);
            refGrad = Torch.toFloats(tt.grad());
        }

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor tokens = Tensor.ofInts(arena, tok, n);
                Tensor out = Tensor.of(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);
                CPU.embeddingForward(out, tokens, Tensor.of(arena, table, v, c));
                assertArrayEquals(refOut, out.toFloatArray(), "embedding fwd is a copy, " + ctx);

                Tensor dz = Tensor.allocate(arena, DType.F32, v, c);
                CPU.embeddingBackward(dz, tokens, Tensor.of(arena, dout, n, c));
                assertClose("embedding dtable", dz.toFloatArray(), refGrad, FP32_TOL, ctx);

                Tensor dtable = Tensor.of(arena, dtable0, v, c);
                CPU.embeddingBackward(dtable, tokens, Tensor.of(arena, dout, n, c));
                float[] got = dtable.toFloatArray();
                // measured against the pre-filled values too: their sum with the gradient may cancel
                KernelChecks.assertCloseScaled("embedding dtable (+=)", got, add(dtable0, refGrad), dtable0, FP32_TOL, ctx);

                // repeated ids are summed in row order: exactly the sequential sum, on any thread count
                float[] seq = dtable0.clone();
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < c; j++) seq[tok[i] * c + j] += dout[i * c + j];
                }
                assertArrayEquals(seq, got, "embedding bwd differs from the in-order sum, " + ctx);
                for (int threads : new int[] {1, 3}) {
                    CpuKernels.setNumThreads(threads);
                    try {
                        Tensor again = Tensor.of(arena, dtable0, v, c);
                        CPU.embeddingBackward(again, tokens, Tensor.of(arena, dout, n, c));
                        assertArrayEquals(got, again.toFloatArray(), "embedding bwd on " + threads + " threads, " + ctx);
                    } finally {
                        CpuKernels.setNumThreads(CPU.threads());
                    }
                }
            }
        });
    }

    @Test
    void tokenOutsideTheVocabularyIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor table = Tensor.of(arena, Numerics.normal(new Random(TestSeeds.next()), 12, 1f), 4, 3);
            Tensor out = Tensor.allocate(arena, DType.F32, 2, 3);
            assertThrows(IllegalArgumentException.class,
                    () -> CPU.embeddingForward(out, Tensor.ofInts(arena, new int[] {1, 4}, 2), table));
            assertThrows(IllegalArgumentException.class,
                    () -> CPU.embeddingBackward(table, Tensor.ofInts(arena, new int[] {-1, 0}, 2), out));
        }
    }
}
