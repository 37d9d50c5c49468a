package org.gpt4llm.io;

import static org.gpt4llm.io.IoFixtures.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/** Checkpoint.toF32 / fromF32 against an independent rounding reference (libtorch's rounding is checked against the same kernels by the conversion contract test, gpt4llm-reference). */
class CheckpointPrecisionTest {
    private final long seed = TestSeeds.next();
    private final Random rng = new Random(seed);

    /** Random bit patterns, normal values at several scales, and the special cases of both formats. */
    private float[] values(int n) {
        float[] special = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MAX_VALUE,
                -Float.MAX_VALUE, Float.MIN_VALUE, Float.MIN_NORMAL, 65504f, 65519.99f, 65520f, -65520f, 1e-8f,
                5.9604645e-8f, 2.9802322e-8f, 6.1035156e-5f, Float.intBitsToFloat(0x3f808000),
                Float.intBitsToFloat(0x3f818000), Float.intBitsToFloat(0xbf808000), Float.intBitsToFloat(0x7f7f8000),
                Float.intBitsToFloat(0x3f808001), 1f + 1f / 2048, 1f + 3f / 2048};
        float[] x = new float[n];
        System.arraycopy(special, 0, x, 0, special.length);
        for (int i = special.length; i < n; i++) {
            x[i] = switch (i % 3) {
                case 0 -> Float.intBitsToFloat(rng.nextInt());
                case 1 -> (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(13) - 8));
                default -> Float.intBitsToFloat((rng.nextInt() & 0xffff8000) | 0x8000); // exact bf16 ties
            };
        }
        return x;
    }

    /** The nearest bf16 (ties to even), found by comparing the two neighbours in double. */
    private static float referenceBf16(float f) {
        if (Float.isNaN(f) || Float.isInfinite(f)) return f;
        int bits = Float.floatToRawIntBits(f);
        float lo = Float.intBitsToFloat(bits & 0xffff0000);
        float hi = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000); // next away from zero (may be inf)
        double dl = Math.abs((double) f - lo);
        double hiValue = Float.isInfinite(hi) ? Math.copySign(0x1p128, f) : hi; // the grid step past the largest bf16
        double dh = Math.abs((double) f - hiValue);
        if (dl < dh) return lo;
        if (dh < dl) return hi;
        return ((Float.floatToRawIntBits(lo) >>> 16) & 1) == 0 ? lo : hi;
    }

    @Test
    void widenIsExactAndMatchesElementAccess() {
        try (Arena arena = Arena.ofConfined()) {
            for (DType d : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                Tensor t = random(arena, rng, d, 3, 70_001); // more than one conversion chunk
                Tensor f = Checkpoint.toF32(t, arena);
                assertEquals(DType.F32, f.dtype());
                assertArrayEquals(t.shape(), f.shape());
                for (long i = 0; i < t.numel(); i += 1 + rng.nextInt(7)) {
                    assertEquals(Float.floatToRawIntBits(t.getFloat(i)), Float.floatToRawIntBits(f.getFloat(i)),
                            d + " element " + i + ", seed " + seed);
                }
                if (d == DType.F32) assertEquals(-1, t.data().mismatch(f.data()));
                // Narrowing what was widened gives the original bits back (NaN payloads aside).
                Tensor back = Checkpoint.fromF32(f, d, arena);
                for (long i = 0; i < t.numel(); i++) {
                    if (!Float.isNaN(f.getFloat(i))) {
                        assertEquals(t.data().get(ValueLayout.JAVA_BYTE, i * d.bytes()), back.data().get(ValueLayout.JAVA_BYTE, i * d.bytes()));
                    }
                }
            }
        }
    }

    @Test
    void narrowRoundsToNearestEven() {
        try (Arena arena = Arena.ofConfined()) {
            float[] x = values(100_003);
            Tensor f32 = Tensor.of(arena, x, x.length);
            float[] bf = Checkpoint.toF32(Checkpoint.fromF32(f32, DType.BF16, arena), arena).toFloatArray();
            float[] h = Checkpoint.toF32(Checkpoint.fromF32(f32, DType.F16, arena), arena).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                String at = "x=" + x[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(x[i])) + "), seed " + seed;
                if (Float.isNaN(x[i])) {
                    assertTrue(Float.isNaN(bf[i]) && Float.isNaN(h[i]), at);
                    continue;
                }
                assertEquals(Float.floatToRawIntBits(referenceBf16(x[i])), Float.floatToRawIntBits(bf[i]), "bf16 " + at);
                assertEquals(Float.floatToRawIntBits(Float.float16ToFloat(Float.floatToFloat16(x[i]))),
                        Float.floatToRawIntBits(h[i]), "f16 " + at);
            }
            assertEquals(0x3f80, Precision.toBf16(Float.intBitsToFloat(0x3f808000)) & 0xffff, "tie to even (down)");
            assertEquals(0x3f82, Precision.toBf16(Float.intBitsToFloat(0x3f818000)) & 0xffff, "tie to even (up)");
            assertEquals(0x7f80, Precision.toBf16(Float.MAX_VALUE) & 0xffff, "overflow to inf");
            assertEquals(0x7fc0, Precision.toBf16(Float.NaN) & 0xffff, "canonical NaN");
            assertEquals(Float.POSITIVE_INFINITY, h[11], "65520 rounds to f16 inf");
        }
    }

    @Test
    void conversionsCopyAndRefuseOtherDtypes() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor f = random(arena, rng, DType.F32, 5);
            Tensor copy = Checkpoint.fromF32(f, DType.F32, arena);
            assertEquals(-1, f.data().mismatch(copy.data()));
            assertTrue(copy.data().address() != f.data().address());
            Tensor empty = Checkpoint.toF32(Tensor.allocate(arena, DType.BF16, 0, 3), arena);
            assertEquals(0, empty.numel());
            Tensor scalar = Checkpoint.toF32(Checkpoint.fromF32(Tensor.of(arena, new float[] {1.5f}), DType.F16, arena), arena);
            assertEquals(1.5f, scalar.getFloat(0));
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.toF32(Tensor.allocate(arena, DType.I32, 2), arena));
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.fromF32(f, DType.I64, arena));
            assertThrows(IllegalArgumentException.class,
                    () -> Checkpoint.fromF32(Tensor.allocate(arena, DType.BF16, 2), DType.F16, arena));
            // A mapped, read-only, unaligned source converts like any other.
            MemorySegment raw = arena.allocate(2 * 9 + 1, 8).asSlice(1);
            for (int i = 0; i < 9; i++) raw.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, Float.floatToFloat16(i - 4.25f));
            Tensor unaligned = Tensor.wrap(raw.asReadOnly(), DType.F16, 9);
            float[] got = Checkpoint.toF32(unaligned, arena).toFloatArray();
            for (int i = 0; i < 9; i++) assertEquals(i - 4.25f, got[i]);
        }
    }
}
