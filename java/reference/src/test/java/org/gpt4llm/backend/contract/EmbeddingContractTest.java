package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Checks.add;
import static org.gpt4llm.backend.contract.Checks.assertClose;
import static org.gpt4llm.backend.contract.Checks.assertCloseScaled;
import static org.gpt4llm.backend.contract.Target.Result.F32_SUM;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Embedding lookup (a copy, bit for bit) and its backward (dtable F32 += dout, repeated ids summed
 * in row order: exactly the sequential fp32 sum, deterministic) on every backend against libtorch
 * autograd in float64 on the values the backend holds, into a zeroed and a pre-filled table.
 */
class EmbeddingContractTest {
    @AfterAll
    static void report() {
        Checks.report("embedding");
    }

    /** V, C, N: small vocabularies force repeated ids; C % 8 == 0 takes a GPU's 16-byte path. */
    static Stream<Arguments> shapes() {
        return Stream.concat(Target.crossed(new Object[] {5, 1, 19}, new Object[] {11, 7, 3}, new Object[] {50, 33, 1},
                        new Object[] {3, 257, 19}, new Object[] {1, 9, 5}, new Object[] {13, 64, 19}, new Object[] {7, 8, 3},
                        new Object[] {2, 2056, 3}),
                Target.notEmulated(new Object[] {1000, 1024, 64}, new Object[] {7, 100, 500}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    @ParameterizedTest(name = "{0} V={1} C={2} N={3}")
    @MethodSource("shapes")
    void matchesLibtorch(Target t, int v, int c, int n) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", V=" + v + ", C=" + c + ", N=" + n;
        Random rng = new Random(seed);
        float[] table = t.held(Numerics.normal(rng, v * c, 1f));
        int[] tok = new int[n];
        for (int i = 0; i < n; i++) tok[i] = rng.nextInt(v);
        float[] dout = t.held(Numerics.normal(rng, n * c, 1f));
        float[] dtable0 = Numerics.normal(rng, v * c, 1f);  // accumulate target (F32), pre-filled

        float[] refOut, refGrad;
        try (PointerScope scope = new PointerScope()) {
            var tt = TorchRef.leaf64(table, v, c);
            var out = torch.embedding(tt, Torch.longs(tok, n));
            TorchRef.backward(out, dout);
            refOut = Torch.toFloats(out);
            refGrad = Torch.toFloats(tt.grad());
        }
        // repeated ids summed in row order onto the pre-filled values: the sequential fp32 sum
        float[] seq = dtable0.clone();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < c; j++) seq[tok[i] * c + j] += dout[i * c + j];
        }

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor tokens = t.ints(arena, tok, n), tdout = t.act(arena, dout, n, c);
                Tensor out = t.act(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);  // overwritten
                be.embeddingForward(out, tokens, t.put(arena, be.weightType(), table, v, c));
                assertArrayEquals(refOut, t.get(out), t + " embedding forward is a copy, " + ctx);

                Tensor dz = be.allocate(arena, DType.F32, v, c);
                be.embeddingBackward(dz, tokens, tdout);
                assertClose(t, "embedding dtable", t.get(dz), refGrad, t.tol(F32_SUM), ctx);

                Tensor dtable = t.f32(arena, dtable0, v, c);
                be.embeddingBackward(dtable, tokens, tdout);
                float[] got = t.get(dtable);
                // measured against the pre-filled values too: their sum with the gradient may cancel
                assertCloseScaled(t, "embedding dtable (+=)", got, add(dtable0, refGrad), dtable0, t.tol(F32_SUM), ctx);
                assertArrayEquals(seq, got, t + " embedding backward differs from the in-order sum, " + ctx);
                if (t.bf16()) return;  // a GPU's id buckets: the engine's EmbeddingLaunchTest
                for (int threads : new int[] {1, 3}) {
                    CpuKernels.setNumThreads(threads);
                    try {
                        Tensor again = t.f32(arena, dtable0, v, c);
                        be.embeddingBackward(again, tokens, tdout);
                        assertArrayEquals(got, t.get(again), t + " embedding backward on " + threads + " threads, " + ctx);
                    } finally {
                        CpuKernels.setNumThreads(be.threads());
                    }
                }
            }
        });
    }

    /**
     * An id outside the vocabulary: the CPU reads the ids on the host anyway and refuses it; a GPU's
     * ids stay on the device (checking them would cost a read-back per step), so its kernels skip it,
     * giving a zero output row and dropping that row's gradient.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void idsOutsideTheVocabulary(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int v = 4, c = 9;
        float[] table = t.held(Numerics.normal(rng, v * c, 1f));
        float[] dout = t.held(Numerics.normal(rng, 3 * c, 1f));
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor tokens = t.ints(arena, new int[] {-1, 2, v}, 3), tdout = t.act(arena, dout, 3, c);
            Tensor out = t.act(arena, Numerics.normal(rng, 3 * c, 1f), 3, c), ttable = t.put(arena, be.weightType(), table, v, c);
            Tensor dtable = be.allocate(arena, DType.F32, v, c);
            if (!t.bf16()) {
                assertThrows(IllegalArgumentException.class, () -> be.embeddingForward(out, tokens, ttable));
                assertThrows(IllegalArgumentException.class, () -> be.embeddingBackward(dtable, tokens, tdout));
                return;
            }
            be.embeddingForward(out, tokens, ttable);
            float[] expect = new float[3 * c];
            System.arraycopy(table, 2 * c, expect, c, c);
            assertArrayEquals(expect, t.get(out), t + " rows of bad ids are zero, seed " + seed);
            be.embeddingBackward(dtable, tokens, tdout);
            float[] grad = new float[v * c];
            System.arraycopy(dout, c, grad, 2 * c, c);
            assertArrayEquals(grad, t.get(dtable), t + " gradients of bad ids are dropped, seed " + seed);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void mismatchedTensorsAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor table = be.allocate(arena, be.weightType(), 4, 3), dtable = be.allocate(arena, DType.F32, 4, 3);
            Tensor tokens = t.ints(arena, new int[] {1, 3}, 2), out = be.allocate(arena, t.act(), 2, 3);
            DType other = t.bf16() ? DType.F32 : DType.BF16;
            assertThrows(IllegalArgumentException.class, () -> be.embeddingForward(be.allocate(arena, t.act(), 3, 3), tokens, table));
            assertThrows(IllegalArgumentException.class, () -> be.embeddingForward(be.allocate(arena, other, 2, 3), tokens, table));
            assertThrows(IllegalArgumentException.class, () -> be.embeddingForward(out, be.allocate(arena, DType.F32, 2), table));
            assertThrows(IllegalArgumentException.class, () -> be.embeddingBackward(dtable, tokens, be.allocate(arena, t.act(), 3, 3)));
            assertThrows(IllegalArgumentException.class,
                    () -> be.embeddingBackward(be.allocate(arena, DType.BF16, 4, 3), tokens, out));  // dtable must be F32
        }
    }
}
