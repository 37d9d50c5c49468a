package org.gpt4llm.backend.cuda.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * kernels/mma.cuh under the emulation against the fragment layouts of the PTX ISA ("Matrix
 * Fragments for mma.m16n8k16" with .bf16, and "ldmatrix"), written out here independently:
 * g = lane >> 2, t = lane % 4; a0..a3 = A[g][2t..], A[g+8][2t..], A[g][2t+8..], A[g+8][2t+8..];
 * b0, b1 = B[2t..][g], B[2t+8..][g]; c0..c3 = C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1];
 * the lower 16 bits of a register hold the element of smaller column (or k) index.
 */
class MmaFragmentTest {
    static final EmuDevice DEV = EmuDeviceTest.DEV;

    static short bf16(float f) {
        return EmuDeviceTest.bf16(f);
    }

    static float value(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    static int pack(short lo, short hi) {
        return (lo & 0xffff) | (hi & 0xffff) << 16;
    }

    static Tensor upload(Arena arena, DType d, Object array, long n) {
        Tensor t = DEV.allocate(arena, d, n);
        DEV.upload(t, switch (array) {
            case short[] s -> MemorySegment.ofArray(s);
            case int[] s -> MemorySegment.ofArray(s);
            case float[] s -> MemorySegment.ofArray(s);
            default -> throw new IllegalArgumentException();
        });
        return t;
    }

    /** bf16 matrices with a spread of magnitudes, so a misplaced element changes the sum visibly. */
    static short[] randomBf16(Random rng, int n) {
        short[] h = new short[n];
        for (int i = 0; i < n; i++) h[i] = bf16((float) (rng.nextGaussian() * Math.pow(2, rng.nextInt(7) - 3)));
        return h;
    }

    /** D = A·B + C in double from the bf16 values; A [16][16], B [16][8] (k, n), C [16][8]. */
    static double[] reference(short[] a, short[] b, float[] c) {
        double[] d = new double[16 * 8];
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 8; j++) {
                double s = c[i * 8 + j];
                for (int k = 0; k < 16; k++) s += (double) value(a[i * 16 + k]) * value(b[k * 8 + j]);
                d[i * 8 + j] = s;
            }
        }
        return d;
    }

    /** |d - ref| within 1e-6 of the sum of the magnitudes of its terms (the emulation rounds once). */
    static void assertMatches(double[] ref, float[] d, short[] a, short[] b, float[] c, int i, int j, String ctx) {
        double mag = Math.abs(c[i * 8 + j]);
        for (int k = 0; k < 16; k++) mag += Math.abs((double) value(a[i * 16 + k]) * value(b[k * 8 + j]));
        double err = Math.abs(d[i * 8 + j] - ref[i * 8 + j]);
        assertTrue(err <= 1e-6 * mag, "D[" + i + "][" + j + "] = " + d[i * 8 + j] + ", want " + ref[i * 8 + j] + " (" + ctx + ")");
    }

    @RepeatedTest(3)
    void mmaOnIsaFragmentsComputesTheProduct() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        short[] a = randomBf16(rng, 256), b = randomBf16(rng, 128);
        float[] c = Numerics.normal(rng, 128, 2f);
        int[] fa = new int[128], fb = new int[64];
        float[] fc = new float[128];
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2, t = lane & 3;
            for (int r = 0; r < 4; r++) {
                int row = g + 8 * (r & 1), col = 2 * t + 8 * (r >> 1);
                fa[4 * lane + r] = pack(a[row * 16 + col], a[row * 16 + col + 1]);
            }
            for (int r = 0; r < 2; r++) {
                int k = 2 * t + 8 * r;
                fb[2 * lane + r] = pack(b[k * 8 + g], b[(k + 1) * 8 + g]);
            }
            for (int r = 0; r < 4; r++) fc[4 * lane + r] = c[(g + 8 * (r >> 1)) * 8 + 2 * t + (r & 1)];
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor d = DEV.allocate(arena, DType.F32, 128);
            DEV.launch("selftest_mma_fragments", Dim3.of(1), Dim3.of(32), 0, d, upload(arena, DType.I32, fa, 128),
                    upload(arena, DType.I32, fb, 64), upload(arena, DType.F32, fc, 128));
            float[] lanes = d.toFloatArray(), dm = new float[128];
            for (int lane = 0; lane < 32; lane++) {
                int g = lane >> 2, t = lane & 3;
                for (int r = 0; r < 4; r++) dm[(g + 8 * (r >> 1)) * 8 + 2 * t + (r & 1)] = lanes[4 * lane + r];
            }
            double[] ref = reference(a, b, c);
            for (int i = 0; i < 16; i++) {
                for (int j = 0; j < 8; j++) assertMatches(ref, dm, a, b, c, i, j, "seed " + seed);
            }
        }
    }

    @RepeatedTest(3)
    void ldmatrixThenMmaComputesTheProduct() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        short[] a = randomBf16(rng, 256), b = randomBf16(rng, 128);
        float[] c = Numerics.normal(rng, 128, 2f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor d = DEV.allocate(arena, DType.F32, 128);
            DEV.launch("selftest_mma", Dim3.of(1), Dim3.of(32), 0, d, upload(arena, DType.BF16, a, 256),
                    upload(arena, DType.BF16, b, 128), upload(arena, DType.F32, c, 128));
            float[] got = d.toFloatArray();
            double[] ref = reference(a, b, c);
            for (int i = 0; i < 16; i++) {
                for (int j = 0; j < 8; j++) assertMatches(ref, got, a, b, c, i, j, "seed " + seed);
            }
        }
    }

    @Test
    void ldmatrixRegistersFollowTheIsaLayout() {
        short[] m = new short[4 * 64];
        for (int i = 0; i < m.length; i++) m[i] = (short) (0x3f80 + i);  // distinct, so any mix-up shows
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.I32, 6 * 32 * 4);
            DEV.launch("selftest_ldmatrix", Dim3.of(1), Dim3.of(32), 0, out, upload(arena, DType.BF16, m, m.length));
            int[] got = out.toIntArray();
            int[] count = {1, 2, 4, 1, 2, 4};
            for (int v = 0; v < 6; v++) {
                boolean trans = v >= 3;
                for (int lane = 0; lane < 32; lane++) {
                    int g = lane >> 2, t = lane & 3;
                    for (int j = 0; j < 4; j++) {
                        int want = 0;
                        if (j < count[v]) {
                            // matrix j, element (row, col) at m[64 j + 8 row + col]
                            short lo = trans ? m[64 * j + 8 * (2 * t) + g] : m[64 * j + 8 * g + 2 * t];
                            short hi = trans ? m[64 * j + 8 * (2 * t + 1) + g] : m[64 * j + 8 * g + 2 * t + 1];
                            want = pack(lo, hi);
                        }
                        assertEquals(want, got[(v * 32 + lane) * 4 + j], "variant " + v + " lane " + lane + " register " + j);
                    }
                }
            }
        }
    }
}
