package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.DeviceTensors.bf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the Backend interface does not reach of the attention launchers (training and decoding):
 * which tensors take the tensor-core kernels, that the backward's workspace need not be zeroed, and
 * the launchers' own refusals. The values themselves are checked against libtorch on every backend
 * by the attention and decode-attention contract tests.
 */
class AttentionLaunchTest {
    /** Tokens of the workspace check: one partial tile is enough to see what the preprocess initialises. */
    private static final int T = 24;

    /** Tensor cores for head dims 64 and 128 on 16-byte aligned tensors (device allocations are); generic otherwise. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void tensorCoresForHeadDims64And128OnAlignedTensorsOnly(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            for (int d : new int[] {8, 33, 64, 80, 128, 256}) {
                Tensor aligned = device.allocate(arena, DType.BF16, 4, d);
                assertTrue(aligned.data().address() % 16 == 0, "a device allocation is 16-byte aligned");
                assertEquals(d == 64 || d == 128, AttentionKernels.tensorCores(d, aligned, aligned), "D=" + d);
                Tensor view = Tensor.wrap(aligned.data().asSlice(2, 2L * d), DType.BF16, 1, d);  // one bf16 in
                assertFalse(AttentionKernels.tensorCores(d, aligned, view), "D=" + d + " with a view 2 bytes in");
            }
        }
    }

    /**
     * The backward with a workspace full of garbage gives the bits of the one that allocates its own:
     * the preprocess initialises delta and the dq accumulator, on both kernel families.
     */
    static Stream<Arguments> headDims() {
        return DeviceTensors.crossed(new Object[] {64}, new Object[] {128}, new Object[] {40});
    }

    @ParameterizedTest(name = "{0} D={1}")
    @MethodSource("headDims")
    void backwardWorkspaceNeedNotBeZeroed(DeviceTensors on, int d) {
        Device device = on.device();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        AttentionShape s = new AttentionShape(1, T, 2, 1, d, (float) (1 / Math.sqrt(d)));
        int nq = T * 2 * d, nk = T * d;
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = on.put(arena, DType.BF16, bf16(Numerics.normal(rng, nq, 1.5f)), 1, T, 2, d);
            Tensor k = on.put(arena, DType.BF16, bf16(Numerics.normal(rng, nk, 1.5f)), 1, T, 1, d);
            Tensor v = on.put(arena, DType.BF16, bf16(Numerics.normal(rng, nk, 1f)), 1, T, 1, d);
            Tensor g = on.put(arena, DType.BF16, bf16(Numerics.normal(rng, nq, 1f)), 1, T, 2, d);
            Tensor out = device.allocate(arena, DType.BF16, 1, T, 2, d), lse = device.allocate(arena, DType.F32, 1, 2, T);
            AttentionKernels.attentionForward(device, out, lse, q, k, v, null, s);
            float[][] first = null;
            for (boolean garbage : new boolean[] {false, true}) {
                Tensor dq = device.allocate(arena, DType.BF16, 1, T, 2, d);
                Tensor dk = device.allocate(arena, DType.BF16, 1, T, 1, d), dv = device.allocate(arena, DType.BF16, 1, T, 1, d);
                if (garbage) {
                    long n = AttentionKernels.workspaceElements(s);
                    Tensor ws = on.put(arena, DType.F32, Numerics.normal(rng, (int) n, 3f), n);
                    AttentionKernels.attentionBackward(device, dq, dk, dv, g, out, lse, q, k, v, null, s, ws);
                } else {
                    AttentionKernels.attentionBackward(device, dq, dk, dv, g, out, lse, q, k, v, null, s);
                }
                float[][] got = {on.get(dq), on.get(dk), on.get(dv)};
                if (first == null) first = got;
                for (int i = 0; i < got.length; i++) {
                    assertArrayEquals(first[i], got[i], "output " + i + " with a workspace of garbage, seed " + seed);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launchersRefuseWrongTypesAndSizes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            AttentionShape s = new AttentionShape(1, 4, 2, 1, 64, 0.125f);
            Tensor q = device.allocate(arena, DType.BF16, 1, 4, 2, 64), kv = device.allocate(arena, DType.BF16, 1, 4, 1, 64);
            Tensor lse = device.allocate(arena, DType.F32, 1, 2, 4), f32q = device.allocate(arena, DType.F32, 1, 4, 2, 64);
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionKernels.attentionForward(device, f32q, lse, q, kv, kv, null, s));    // out not BF16
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionKernels.attentionForward(device, q, lse, f32q, kv, kv, null, s));    // q not BF16
            Tensor dq = device.allocate(arena, DType.BF16, 1, 4, 2, 64), dk = device.allocate(arena, DType.BF16, 1, 4, 1, 64);
            var e = assertThrows(IllegalArgumentException.class, () -> AttentionKernels.attentionBackward(device, dq, dk, dk,
                    q, q, lse, q, kv, kv, null, s, device.allocate(arena, DType.F32, 10)));            // workspace too small
            assertTrue(e.getMessage().contains("workspace"), e.getMessage());
            AttentionShape wide = new AttentionShape(1, 4, 1, 1, 264, 0.1f);
            Tensor w = device.allocate(arena, DType.BF16, 1, 4, 1, 264), wl = device.allocate(arena, DType.F32, 1, 1, 4);
            e = assertThrows(IllegalArgumentException.class,
                    () -> AttentionKernels.attentionForward(device, w, wl, w, w, w, null, wide));
            assertTrue(e.getMessage().contains("head dim 264"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void decodeLaunchersRefuseHeadDimsAboveTheKernelsLimitAndWrongTypes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            DecodeShape wide = new DecodeShape(1, 1, 4, 1, 1, 320, 1f);
            Tensor q = device.allocate(arena, DType.BF16, 1, 320), cache = device.allocate(arena, DType.BF16, 4, 320);
            Tensor lengths = on.ints(arena, new int[] {1}, 1);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> AttentionDecodeKernels.attentionDecode(device, q, q, cache, cache, lengths, wide));
            assertTrue(e.getMessage().contains("head dim 320"), e.getMessage());
            Tensor f32Cache = device.allocate(arena, DType.F32, 4, 320);
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionDecodeKernels.kvCacheWrite(device, f32Cache, q, lengths, wide));    // cache not BF16
            Tensor f32Lengths = device.allocate(arena, DType.F32, 1);
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionDecodeKernels.kvCacheWrite(device, cache, q, f32Lengths, wide));    // lengths not I32
        }
    }
}
