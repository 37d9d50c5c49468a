package org.gpt4llm.backend.contract;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ShortBuffer;
import java.util.Random;
import java.util.function.IntUnaryOperator;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Conversions between fp32 and the 16-bit floats, bit for bit on every backend through
 * {@link Backend#convert}: widening exhaustively over all 65536 patterns, narrowing on edge and random
 * fp32 values against an independent round-to-nearest-even reference, Java's Float.floatToFloat16 and
 * libtorch's .to(kBFloat16 / kHalf). F16 is a host format (checkpoints): the CPU converts it, a GPU
 * refuses it. Then what moves data in and out of a backend: upload (converting), download, toHost,
 * copy and zero.
 *
 * <p>NaNs come back NaN everywhere. On the CPU they stay quiet NaNs with their sign and upper payload
 * (native/src/convert.cpp); a GPU's fp32-to-bf16 rounding (cvt.rn) gives the canonical 0x7fff.
 */
class ConvertContractTest {
    static Stream<Target> targets() {
        return Target.all();
    }

    static Stream<Target> cpuTargets() {
        return Target.all().filter(t -> !t.bf16());
    }

    static Stream<Target> gpuTargets() {
        return Target.all().filter(Target::bf16);
    }

    /** Random values after the edge values, aligned or one element off: 4099 ends a GPU launch in a tail of 3. */
    static Stream<Arguments> counts() {
        return Stream.concat(Target.crossed(new Object[] {0, true}, new Object[] {13, true}, new Object[] {13, false},
                        new Object[] {4099, true}, new Object[] {4099, false}),
                Target.notEmulated(new Object[] {100003, true}, new Object[] {100003, false}));
    }

    // ---- references: NaNs by the documented behaviour, numbers by comparing distances ----------

    private static int f16NanToF32(int h) {
        return ((h & 0x8000) << 16) | 0x7f800000 | 0x00400000 | ((h & 0x3ff) << 13);
    }

    private static int f32NanToF16(int b) {
        return ((b >>> 16) & 0x8000) | 0x7e00 | ((b >>> 13) & 0x3ff);
    }

    /** The bf16 bits of fp32 bits b as {@code t} rounds them: nearest, ties to the even neighbour. */
    static int bf16Reference(Target t, int b) {
        float f = Float.intBitsToFloat(b);
        if (Float.isNaN(f)) return t.bf16() ? 0x7fff : (b >>> 16) | 0x0040;
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
                -3.3961e38f, -1e-39f, Math.scalb(p, -14), Math.scalb(p, -24), -Math.scalb(p, -24), Math.scalb(p, -25),
                Math.nextUp(Math.scalb(p, -25)), Math.scalb(p, -26), Math.scalb(1.5f, -24), Math.scalb(2.5f, -24),
                Math.scalb(1023.5f, -24), Math.scalb(1023.75f, -24), Math.nextDown(Math.scalb(p, -14)),
                1f + Math.scalb(p, -11), 1f + Math.scalb(3f, -11), 1f + Math.scalb(p, -8), 1f + Math.scalb(3f, -8),
                Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000), Float.intBitsToFloat(0x7f7fffff),
                Float.intBitsToFloat(0x7f7f7fff), Float.intBitsToFloat(0x7f7f8000), Float.intBitsToFloat(0x0000ffff),
                Float.intBitsToFloat(0x00008000), Float.intBitsToFloat(0x00018000), Float.intBitsToFloat(0x00012345),
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
    static int[] testBits(Random rng, int randomCount) {
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

    // ---- raw tensors: bits in and out, aligned or one element off -------------------------------

    /** A 1-D tensor of {@code dtype} on the target, n elements, one past an aligned address unless aligned. */
    private static Tensor alloc(Target t, Arena arena, DType dtype, int n, boolean aligned) {
        if (aligned) return t.backend().allocate(arena, dtype, n);
        Tensor padded = t.backend().allocate(arena, dtype, n + 1);
        return Tensor.wrap(padded.data().asSlice(dtype.bytes(), (long) n * dtype.bytes()), dtype, n);
    }

    /** A tensor holding the raw 16-bit patterns {@code bits} (BF16 or F16), copied in unconverted. */
    private static Tensor shorts(Target t, Arena arena, DType dtype, int[] bits, boolean aligned) {
        Tensor host = Tensor.allocate(arena, dtype, bits.length);
        for (int i = 0; i < bits.length; i++) host.data().setAtIndex(JAVA_SHORT, i, (short) bits[i]);
        Tensor d = alloc(t, arena, dtype, bits.length, aligned);
        t.backend().upload(d, host);
        return d;
    }

    /** A tensor holding the raw fp32 patterns {@code bits}, NaN payloads included. */
    private static Tensor ints(Target t, Arena arena, int[] bits, boolean aligned) {
        Tensor host = Tensor.allocate(arena, DType.F32, bits.length);
        MemorySegment.copy(bits, 0, host.data(), JAVA_INT, 0, bits.length);
        Tensor d = alloc(t, arena, DType.F32, bits.length, aligned);
        t.backend().upload(d, host);
        return d;
    }

    /** The raw elements of a tensor: 16-bit patterns (unsigned) or fp32 patterns. */
    private static int[] bits(Target t, Tensor x) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment h = t.backend().toHost(x, arena).data();
            int n = (int) x.numel();
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = x.dtype() == DType.F32 ? h.getAtIndex(JAVA_INT, i) : h.getAtIndex(JAVA_SHORT, i) & 0xffff;
            }
            return out;
        }
    }

    // ---- the contract -------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void everyBf16PatternWidensExactly(Target t) {
        // back to bf16 exactly (NaNs by the rule above)
        sweep(t, DType.BF16, h -> h << 16, h -> bf16Reference(t, h << 16));
    }

    @ParameterizedTest(name = "{0}", allowZeroInvocations = true)  // -Dgpt4llm.targets may select none of them
    @MethodSource("cpuTargets")
    void everyF16PatternWidensExactly(Target t) {
        sweep(t, DType.F16, h -> {
            float f = Float.float16ToFloat((short) h);
            return Float.isNaN(f) ? f16NanToF32(h) : Float.floatToRawIntBits(f);
        }, h -> (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0 ? h | 0x200 : h);  // NaNs come back quiet
    }

    /** All 65536 patterns of a 16-bit {@code dtype} converted to fp32 and back, raw bits against the references. */
    private static void sweep(Target t, DType dtype, IntUnaryOperator widened, IntUnaryOperator roundTrip) {
        int n = 65536;
        int[] all = new int[n];
        for (int h = 0; h < n; h++) all[h] = h;
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor wide = be.allocate(arena, DType.F32, n), back = be.allocate(arena, dtype, n);
                be.convert(wide, shorts(t, arena, dtype, all, true));
                be.convert(back, wide);
                int[] got = bits(t, wide), again = bits(t, back);
                for (int h = 0; h < n; h++) {
                    int expected = widened.applyAsInt(h);
                    if (got[h] != expected) fail(String.format("%s %s %04x -> %08x, expected %08x", t, dtype, h, got[h], expected));
                    expected = roundTrip.applyAsInt(h);
                    if (again[h] != expected) {
                        fail(String.format("%s %s round trip of %04x gave %04x, expected %04x", t, dtype, h, again[h], expected));
                    }
                }
            }
        });
    }

    @ParameterizedTest(name = "{0} random={1} aligned={2}")
    @MethodSource("counts")
    void narrowingRoundsToNearestEven(Target t, int count, boolean aligned) {
        long seed = TestSeeds.next();
        int[] x = testBits(new Random(seed), count);
        int n = x.length;
        float[] xf = new float[n];
        for (int i = 0; i < n; i++) xf[i] = Float.intBitsToFloat(x[i]);
        int[] torchBf16 = torchBits(xf, torch.ScalarType.BFloat16);
        int[] torchF16 = t.bf16() ? null : torchBits(xf, torch.ScalarType.Half);
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor in = ints(t, arena, x, aligned);
                Tensor out = alloc(t, arena, DType.BF16, n, aligned);
                be.convert(out, in);
                checkNarrowed(t, "bf16", bits(t, out), x, i -> bf16Reference(t, i), torchBf16, seed, aligned);
                if (t.bf16()) return;  // F16 is a host format
                out = alloc(t, arena, DType.F16, n, aligned);
                be.convert(out, in);
                checkNarrowed(t, "f16", bits(t, out), x, ConvertContractTest::f16Reference, torchF16, seed, aligned);
            }
        });
    }

    private static void checkNarrowed(Target t, String type, int[] got, int[] x, IntUnaryOperator ref,
                                      int[] torchRef, long seed, boolean aligned) {
        for (int i = 0; i < x.length; i++) {
            int i0 = i;  // the message is built only on failure
            Supplier<String> what = () -> String.format("%s %s of %s (%08x) = %04x, seed %d, n=%d, aligned=%s", t, type,
                    Float.intBitsToFloat(x[i0]), x[i0], got[i0], seed, x.length, aligned);
            assertEquals(ref.applyAsInt(x[i]), got[i], what);
            if (!Float.isNaN(Float.intBitsToFloat(x[i]))) assertEquals(torchRef[i], got[i], () -> "libtorch: " + what.get());
        }
    }

    @ParameterizedTest(name = "{0}", allowZeroInvocations = true)  // -Dgpt4llm.targets may select none of them
    @MethodSource("gpuTargets")
    void aGpuRefusesF16(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor f = be.allocate(arena, DType.F32, 4), h = be.allocate(arena, DType.F16, 4);
            assertThrows(IllegalArgumentException.class, () -> be.convert(h, f));
            assertThrows(IllegalArgumentException.class, () -> be.convert(f, h));
        }
    }

    /**
     * upload converts a host tensor into the target tensor's dtype (rounding to bf16 where it is
     * BF16), download gives its values as floats, toHost its raw copy; copy and zero move no bits
     * but those asked for. The 16-bit types round as the conversions above (checked there bit for bit).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void uploadDownloadCopyAndZero(Target t) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed;
        Random rng = new Random(seed);
        int n = 1 + rng.nextInt(3000);
        float[] v = Numerics.normal(rng, n, 2f);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rng.nextInt();
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor host = Tensor.of(arena, v, n);
                for (DType dtype : t.bf16() ? new DType[] {DType.F32, DType.BF16} : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                    Tensor d = be.allocate(arena, dtype, n);
                    be.upload(d, host);
                    float[] expected = switch (dtype) {
                        case BF16 -> Bf16.round(v);
                        case F16 -> f16Round(v);
                        default -> v;
                    };
                    assertArrayEquals(expected, be.download(d), t + " upload then download as " + dtype + ", " + ctx);
                    Tensor copy = Tensor.allocate(arena, dtype, n);
                    copy.copyFrom(be.toHost(d, arena));
                    assertArrayEquals(expected, copy.toFloatArray(), t + " toHost of " + dtype + ", " + ctx);
                    Tensor other = be.allocate(arena, dtype, n);
                    be.copy(other, d);
                    assertArrayEquals(expected, be.download(other), t + " copy of " + dtype + ", " + ctx);
                    be.zero(d);
                    assertArrayEquals(new float[n], be.download(d), t + " zero of " + dtype + ", " + ctx);
                    assertArrayEquals(expected, be.download(other), t + " zero reached the copy of " + dtype + ", " + ctx);
                }
                Tensor i32 = be.allocate(arena, DType.I32, n);
                be.upload(i32, ids);
                assertArrayEquals(ids, be.toHost(i32, arena).toIntArray(), t + " I32 upload, " + ctx);
            }
        });
    }

    private static float[] f16Round(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.float16ToFloat(Float.floatToFloat16(v[i]));
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void mismatchedTensorsAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor f = be.allocate(arena, DType.F32, 6), b = be.allocate(arena, DType.BF16, 6);
            Tensor b5 = be.allocate(arena, DType.BF16, 5), i = be.allocate(arena, DType.I32, 6);
            assertThrows(IllegalArgumentException.class, () -> be.convert(b5, f));                  // sizes differ
            assertThrows(IllegalArgumentException.class, () -> be.convert(i, f));                   // not a float type
            assertThrows(IllegalArgumentException.class, () -> be.copy(b, f));                       // dtypes differ
            assertThrows(IllegalArgumentException.class, () -> be.copy(b5, b));                      // sizes differ
            assertThrows(IllegalArgumentException.class, () -> be.upload(i, new int[5]));            // sizes differ
            assertThrows(IllegalArgumentException.class, () -> be.upload(b5, Tensor.allocate(arena, DType.F32, 6)));
        }
    }
}
