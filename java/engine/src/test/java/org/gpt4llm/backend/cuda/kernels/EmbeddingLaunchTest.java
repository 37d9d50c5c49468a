package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.DeviceTensors.bf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The embedding backward launched with 1, 3 and the most id buckets gives the bits of the default
 * launch (each bucket walks all ids in row order and adds only its own, so every table element is
 * one thread's in-order sum); the launchers refuse what the backend cannot pass them. The values
 * themselves are checked against libtorch on every backend by the embedding contract test.
 */
class EmbeddingLaunchTest {
    static Stream<Arguments> shapes() {
        return DeviceTensors.crossed(new Object[] {5, 1, 19}, new Object[] {3, 257, 19}, new Object[] {13, 64, 200},
                new Object[] {2, 2056, 3});
    }

    @ParameterizedTest(name = "{0} V={1} C={2} N={3}")
    @MethodSource("shapes")
    void backwardDoesNotDependOnTheBucketCount(DeviceTensors on, int v, int c, int n) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        String ctx = "seed " + seed + ", V=" + v + ", C=" + c + ", N=" + n;
        int[] tok = new int[n];
        for (int i = 0; i < n; i++) tok[i] = rng.nextInt(v);
        float[] dout = bf16(Numerics.normal(rng, n * c, 1f)), dtable0 = Numerics.normal(rng, v * c, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor tokens = on.ints(arena, tok, n), tdout = on.put(arena, DType.BF16, dout, n, c);
            Tensor first = on.put(arena, DType.F32, dtable0, v, c);
            EmbeddingKernels.embeddingBackward(device, first, tokens, tdout);
            float[] expected = on.get(first);
            for (int buckets : new int[] {1, 3, EmbeddingKernels.MAX_BUCKETS}) {
                Tensor dtable = on.put(arena, DType.F32, dtable0, v, c);
                EmbeddingKernels.embeddingBackward(device, dtable, tokens, tdout, buckets);
                assertArrayEquals(expected, on.get(dtable), "embedding backward with " + buckets + " buckets, " + ctx);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launchersRefuseWrongTypesAndSizes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor table = device.allocate(arena, DType.BF16, 4, 3), dtable = device.allocate(arena, DType.F32, 4, 3);
            Tensor tokens = device.allocate(arena, DType.I32, 2), out = device.allocate(arena, DType.BF16, 2, 3);
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingForward(device,
                    out, tokens, device.allocate(arena, DType.F32, 4, 3)));                        // table not BF16
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingForward(device,
                    out, tokens, device.allocate(arena, DType.BF16, 12)));                         // table not [V, C]
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingBackward(device,
                    dtable, tokens, out, 0));                                                        // no bucket
            assertThrows(IllegalArgumentException.class, () -> EmbeddingKernels.embeddingBackward(device,
                    dtable, tokens, out, 65536));                                                    // grid y > 65535
            assertThrows(IllegalArgumentException.class,
                    () -> EmbeddingKernels.embeddingBackward(device, table, tokens, out));          // dtable not F32
        }
    }
}
