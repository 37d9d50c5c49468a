package org.gpt4llm.backend.cpu;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ShortBuffer;
import java.util.Random;
import java.util.function.Supplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * fp32 <-> bf16/f16 conversions, bit for bit: exhaustively over all 65536 16-bit patterns, and on
 * random and edge fp32 values against an independent round-to-nearest-even reference, Java's
 * Float.floatToFloat16 and libtorch's .to(kBFloat16 / kHalf).
 */
class ConvertTest {
    @BeforeAll
    static void threads() {
        new CpuBackend(2);
        Torch.setThreads(1);
    }

    // ---- NaNs: quiet, sign and upper payload kept (the documented behaviour of convert.cpp) -------

    private static int f16NanToF32(int h) {
        return ((h & 0x8000) << 16) | 0x7f800000 | 0x00400000 | ((h & 0x3ff) << 13);
    }

    private static int f32NanToF16(int b) {
        return ((b >>> 16) & 0x8000) | 0x7e00 | ((b >>> 13) & 0x3ff);
    }

    private static int f32NanToBf16(int b) {
        return (b >>> 16) | 0x0040;
    }

    /** f32 -> bf16 by comparing the distances to the two neighbours, ties to the even one. */
    static int bf16Reference(int b) {
        float f = Float.intBitsToFloat(b);
        if (Float.isNaN(f)) return f32NanToBf16(b);
        int lo = b >>> 16;  // truncation: the neighbour towards zero
        if ((b & 0xffff) == 0) return lo;
        double x = Math.abs((double) f);
        double vlo = Math.abs((double) Float.intBitsToFloat(lo << 16));
        // the neighbour away from zero; above the largest finite bf16 it is 2^128 (rounds to Inf)
        double vhi = (lo & 0x7fff) == 0x7f7f ? Math.scalb(1.0, 128) : Math.abs((double) Float.intBitsToFloat((lo + 1) << 16));
        double dlo = x - vlo, dhi = vhi - x;
        if (dlo < dhi) return lo;
        if (dlo > dhi) return (lo + 1) & 0xffff;
        return (lo & 1) == 0 ? lo : (lo + 1) & 0xffff;
    }

    static int f16Reference(int b) {
        float f = Float.intBitsToFloat(b);
        if (Float.isNaN(f)) return f32NanToF16(b);
        return Float.floatToFloat16(f) & 0xffff;
    }

    static int[] edgeBits() {
        float p = 1f;
        float[] named = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 65504f, 65519.996f, 65520f, -65520f, 65536f, 1e6f,
                Math.scalb(p, -14), Math.scalb(p, -24), -Math.scalb(p, -24), Math.scalb(p, -25), Math.nextUp(Math.scalb(p, -25)),
                Math.scalb(p, -26), Math.scalb(1.5f, -24), Math.scalb(2.5f, -24), Math.scalb(1023.5f, -24),
                Math.scalb(1023.75f, -24), Math.nextDown(Math.scalb(p, -14)), 1f + Math.scalb(p, -11), 1f + Math.scalb(3f, -11),
                1f + Math.scalb(p, -8), 1f + Math.scalb(3f, -8), Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000),
                Float.intBitsToFloat(0x7f7fffff), Float.intBitsToFloat(0x7f7f7fff), Float.intBitsToFloat(0x7f7f8000),
                Float.intBitsToFloat(0x0000ffff), Float.intBitsToFloat(0x00008000), Float.intBitsToFloat(0x00018000),
                3.14159265f, -2.71828f};
        int[] nans = {0x7fc00000, 0x7f800001, 0xffc00001, 0x7fbfffff, 0xff800010, 0x7fffffff, 0x7f802000};
        int[] bits = new int[named.length + nans.length];
        for (int i = 0; i < named.length; i++) bits[i] = Float.floatToRawIntBits(named[i]);
        System.arraycopy(nans, 0, bits, named.length, nans.length);
        return bits;
    }

    /**
     * Bit patterns of edge values followed by random ones: raw random bits (every class of value,
     * NaNs included), normals of many scales, f16 subnormals, values around the f16 overflow.
     * Kept as bits so that NaN payloads survive exactly.
     */
    static int[] testBits(long seed, int randomCount) {
        Random rng = new Random(seed);
        int[] edges = edgeBits();
        int[] x = new int[edges.length + randomCount];
        System.arraycopy(edges, 0, x, 0, edges.length);
        for (int i = edges.length; i < x.length; i++) {
            x[i] = switch (i % 4) {
                case 0 -> rng.nextInt();
                case 1 -> Float.floatToRawIntBits((float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(11) - 5)));
                case 2 -> Float.floatToRawIntBits((float) (rng.nextGaussian() * 1e-6));
                default -> Float.floatToRawIntBits((float) ((rng.nextDouble() * 2 - 1) * 70000));
            };
        }
        return x;
    }

    private static int[] torchBits(float[] x, torch.ScalarType type) {
        try (PointerScope scope = new PointerScope()) {
            var t = Torch.floats(x, x.length).to(type).view(torch.ScalarType.Short).contiguous();
            ShortBuffer b = t.createBuffer();
            int[] out = new int[x.length];
            for (int i = 0; i < out.length; i++) out[i] = b.get(i) & 0xffff;
            return out;
        }
    }

    @ParameterizedTest(name = "scalar={0}")
    @ValueSource(booleans = {false, true})
    void everySixteenBitPatternWidensExactly(boolean scalar) {
        int n = 65536;
        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment in = arena.allocate(2L * n, 64), out = arena.allocate(4L * n, 64);
                MemorySegment back = arena.allocate(2L * n, 64);
                for (int i = 0; i < n; i++) in.setAtIndex(JAVA_SHORT, i, (short) i);

                CpuKernels.bf16ToF32(out, in, n);
                for (int h = 0; h < n; h++) {
                    int got = out.getAtIndex(JAVA_INT, h);  // raw bits: NaN payloads included
                    if (got != h << 16) fail(String.format("bf16 %04x -> %08x, expected %08x (%s)", h, got, h << 16, KernelChecks.path(scalar)));
                }
                CpuKernels.f32ToBf16(back, out, n);  // and back, exactly (NaNs come back quiet)
                for (int h = 0; h < n; h++) {
                    int expected = Float.isNaN(Float.intBitsToFloat(h << 16)) ? h | 0x40 : h;
                    assertEquals(expected, back.getAtIndex(JAVA_SHORT, h) & 0xffff, String.format("bf16 round trip of %04x", h));
                }

                CpuKernels.f16ToF32(out, in, n);
                for (int h = 0; h < n; h++) {
                    float ref = Float.float16ToFloat((short) h);
                    int expected = Float.isNaN(ref) ? f16NanToF32(h) : Float.floatToRawIntBits(ref);
                    int got = out.getAtIndex(JAVA_INT, h);
                    if (got != expected) fail(String.format("f16 %04x -> %08x, expected %08x (%s)", h, got, expected, KernelChecks.path(scalar)));
                }
                CpuKernels.f32ToF16(back, out, n);
                for (int h = 0; h < n; h++) {
                    boolean nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
                    assertEquals(nan ? h | 0x200 : h, back.getAtIndex(JAVA_SHORT, h) & 0xffff, String.format("f16 round trip of %04x", h));
                }
            }
        });
    }

    @ParameterizedTest(name = "scalar={0}")
    @ValueSource(booleans = {false, true})
    void narrowingRoundsToNearestEven(boolean scalar) {
        long seed = TestSeeds.next();
        for (int count : new int[] {0, 13, 100003}) {
            int[] x = testBits(seed, count);
            int n = x.length;
            float[] xf = new float[n];
            for (int i = 0; i < n; i++) xf[i] = Float.intBitsToFloat(x[i]);
            int[] torchBf16 = torchBits(xf, torch.ScalarType.BFloat16);
            int[] torchF16 = torchBits(xf, torch.ScalarType.Half);
            KernelChecks.onPath(scalar, () -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment in = arena.allocate(4L * n, 64), out = arena.allocate(2L * n, 64);
                    MemorySegment.copy(x, 0, in, JAVA_INT, 0, n);
                    CpuKernels.f32ToBf16(out, in, n);
                    for (int i = 0; i < n; i++) {
                        int got = out.getAtIndex(JAVA_SHORT, i) & 0xffff;
                        int i0 = i;  // the message is built only on failure
                        Supplier<String> what = () -> String.format("bf16 of %s (%08x) = %04x, seed %d, n=%d, %s",
                                xf[i0], x[i0], got, seed, n, KernelChecks.path(scalar));
                        assertEquals(bf16Reference(x[i]), got, what);
                        if (!Float.isNaN(xf[i])) assertEquals(torchBf16[i], got, () -> "libtorch: " + what.get());
                    }
                    CpuKernels.f32ToF16(out, in, n);
                    for (int i = 0; i < n; i++) {
                        int got = out.getAtIndex(JAVA_SHORT, i) & 0xffff;
                        int i0 = i;  // the message is built only on failure
                        Supplier<String> what = () -> String.format("f16 of %s (%08x) = %04x, seed %d, n=%d, %s",
                                xf[i0], x[i0], got, seed, n, KernelChecks.path(scalar));
                        assertEquals(f16Reference(x[i]), got, what);
                        if (!Float.isNaN(xf[i])) assertEquals(torchF16[i], got, () -> "libtorch: " + what.get());
                    }
                }
            });
        }
    }
}
