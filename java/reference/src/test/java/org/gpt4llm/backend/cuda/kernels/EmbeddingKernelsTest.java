package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cpu.KernelChecks.assertCloseScaled;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.F32_TOL;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.bf16;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.f32;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
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

/** kernels/embedding.cu on the emulated device against libtorch autograd and the in-order sum. */
class EmbeddingKernelsTest {
    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("cuda embedding");
    }

    static Stream<Arguments> shapes() {
        // V, C, N: small vocabularies force repeated ids; C % 8 == 0 takes the 16-byte path
        int[][] s = {{5, 1, 19}, {11, 7, 3}, {50, 33, 1}, {3, 257, 19}, {13, 64, 19}, {7, 8, 3}, {2, 2056, 3}};
        return Arrays.stream(s).map(r -> Arguments.of(r[0], r[1], r[2]));
    }

    @ParameterizedTest(name = "V={0} C={1} N={2}")
    @MethodSource("shapes")
    void matchesLibtorch(int v, int c, int n) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", V=" + v + ", C=" + c + ", N=" + n;
        Random rng = new Random(seed);
        float[] table = bf16(Numerics.normal(rng, v * c, 1.0f));
        int[] tok = new int[n];
        for (int i = 0; i < n; i++) tok[i] = rng.nextInt(v);
        float[] dout = bf16(Numerics.normal(rng, n * c, 1.0f));
        float[] dtable0 = Numerics.normal(rng, v * c, 1.0f);  // accumulate target, pre-filled

        float[] refOut, refGrad;
        try (PointerScope scope = new PointerScope()) {
            var tt = KernelChecks.leaf(table, v, c);
            var out = torch.embedding(tt, Torch.longs(tok, n));
            KernelChecks.backward(out, dout);
            refOut = Torch.toFloats(out);
            refGrad = Torch.toFloats(tt.grad());
        }

        try (Arena arena = Arena.ofConfined()) {
            Tensor tokens = ints(arena, tok, n);
            Tensor out = DeviceChecks.bf16(arena, Numerics.normal(new Random(seed + 1), n * c, 1f), n, c);  // overwritten
            EmbeddingKernels.embeddingForward(device(), out, tokens, DeviceChecks.bf16(arena, table, v, c));
            assertArrayEquals(refOut, download(out), "embedding fwd is a copy, " + ctx);

            Tensor dz = device().allocate(arena, DType.F32, v, c);
            EmbeddingKernels.embeddingBackward(device(), dz, tokens, DeviceChecks.bf16(arena, dout, n, c));
            assertCloseScaled("cuda embedding dtable", download(dz), refGrad, refGrad, F32_TOL, ctx);

            // repeated ids are summed in row order, onto the pre-filled values: exactly the sequential
            // fp32 sum, whatever the number of id buckets
            float[] seq = dtable0.clone();
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < c; j++) seq[tok[i] * c + j] += dout[i * c + j];
            }
            assertCloseScaled("cuda embedding dtable (+=)", seq, KernelChecks.add(dtable0, refGrad), dtable0, F32_TOL, ctx);
            for (int buckets : new int[] {1, 3, 32}) {
                Tensor dtable = f32(arena, dtable0, v, c);
                EmbeddingKernels.embeddingBackward(device(), dtable, tokens, DeviceChecks.bf16(arena, dout, n, c), buckets);
                assertArrayEquals(seq, download(dtable), "embedding bwd with " + buckets + " buckets differs from the in-order sum, " + ctx);
            }
        }
    }

    @Test
    void idsOutsideTheVocabularyTouchNothing() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int v = 4, c = 9;
        float[] table = bf16(Numerics.normal(rng, v * c, 1f));
        float[] dout = bf16(Numerics.normal(rng, 3 * c, 1f));
        try (Arena arena = Arena.ofConfined()) {
            Tensor tokens = ints(arena, new int[] {-1, 2, v}, 3);
            Tensor out = DeviceChecks.bf16(arena, Numerics.normal(rng, 3 * c, 1f), 3, c);
            EmbeddingKernels.embeddingForward(device(), out, tokens, DeviceChecks.bf16(arena, table, v, c));
            float[] expect = new float[3 * c];
            System.arraycopy(table, 2 * c, expect, c, c);
            assertArrayEquals(expect, download(out), "rows of bad ids are zero, seed " + seed);

            Tensor dtable = device().allocate(arena, DType.F32, v, c);
            EmbeddingKernels.embeddingBackward(device(), dtable, tokens, DeviceChecks.bf16(arena, dout, 3, c));
            float[] grad = new float[v * c];
            System.arraycopy(dout, c, grad, 2 * c, c);
            assertArrayEquals(grad, download(dtable), "gradients of bad ids are dropped, seed " + seed);
        }
    }

    @Test
    void badArgumentsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor table = device().allocate(arena, DType.BF16, 4, 3);
            Tensor tokens = device().allocate(arena, DType.I32, 2);
            Tensor out = device().allocate(arena, DType.BF16, 2, 3);
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingForward(device(),
                    device().allocate(arena, DType.F32, 2, 3), tokens, table));
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingForward(device(),
                    device().allocate(arena, DType.BF16, 3, 3), tokens, table));
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingForward(device(),
                    out, device().allocate(arena, DType.F32, 2), table));
            assertThrows(IllegalArgumentException.class,
                    () -> EmbeddingKernels.embeddingBackward(device(), table, tokens, out));  // dtable must be F32
        }
    }
}
