package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.KernelChecks;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AttentionDecodeKernels through the emulation against the CPU backend's kvCacheWrite /
 * attentionDecode on the same bf16-rounded inputs: the cache write bit for bit, the attention to
 * {@value #OUT_TOL} relative norm error (the output is rounded to bf16 once, about 1.1e-3; a wrong
 * mask, head or rescale gives 1e-1 and above). GQA, head dims 10 to 256, rows of different lengths,
 * Tq = 1 and Tq > 1 with left padding; every cache position holds random data.
 */
class AttentionDecodeKernelsTest {
    static final double OUT_TOL = 4e-3;
    private static final CpuBackend CPU = new CpuBackend(2);

    record Case(int tq, int tmax, int hq, int hkv, int d, int[] lengths) {
        @Override
        public String toString() {
            return "Tq=" + tq + " Tmax=" + tmax + " Hq=" + hq + " Hkv=" + hkv + " D=" + d + " lengths="
                    + java.util.Arrays.toString(lengths);
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case(1, 40, 4, 2, 10, new int[] {1, 17, 40}),
                new Case(1, 70, 2, 1, 256, new int[] {69, 2}),
                new Case(1, 9, 3, 3, 64, new int[] {9, 4, 6}),
                new Case(5, 70, 6, 2, 64, new int[] {5, 70, 3}),
                new Case(13, 13, 4, 2, 13, new int[] {13, 1, 8}));
    }

    @AfterAll
    static void report() {
        KernelChecks.report("emu decode");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesCpuBackend(Case c) {
        long seed = TestSeeds.next();
        String context = "seed " + seed + ", " + c;
        Random rng = new Random(seed);
        int B = c.lengths.length;
        DecodeShape s = new DecodeShape(B, c.tq, c.tmax, c.hq, c.hkv, c.d, (float) (1.0 / Math.sqrt(c.d)));
        int w = (int) s.kvWidth(), qw = c.hq * c.d;
        float[] kc = DeviceChecks.bf16(Numerics.normal(rng, B * c.tmax * w, 1f));
        float[] vc = DeviceChecks.bf16(Numerics.normal(rng, B * c.tmax * w, 1f));
        float[] kNew = DeviceChecks.bf16(Numerics.normal(rng, B * c.tq * w, 1f));
        float[] vNew = DeviceChecks.bf16(Numerics.normal(rng, B * c.tq * w, 1f));
        float[] q = DeviceChecks.bf16(Numerics.normal(rng, B * c.tq * qw, 1f));
        var d = DeviceChecks.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor dk = DeviceChecks.bf16(arena, kc, B, c.tmax, w), dv = DeviceChecks.bf16(arena, vc, B, c.tmax, w);
            Tensor lengths = DeviceChecks.ints(arena, c.lengths, B);
            Tensor out = DeviceChecks.bf16(arena, new float[B * c.tq * qw], B, c.tq, qw);
            AttentionDecodeKernels.kvCacheWrite(d, dk, DeviceChecks.bf16(arena, kNew, B, c.tq, w), lengths, s);
            AttentionDecodeKernels.kvCacheWrite(d, dv, DeviceChecks.bf16(arena, vNew, B, c.tq, w), lengths, s);
            AttentionDecodeKernels.attentionDecode(d, out, DeviceChecks.bf16(arena, q, B, c.tq, qw), dk, dv, lengths, s);

            Tensor hk = Tensor.of(arena, kc, B, c.tmax, w), hv = Tensor.of(arena, vc, B, c.tmax, w);
            Tensor hl = Tensor.ofInts(arena, c.lengths, B), hout = Tensor.of(arena, new float[B * c.tq * qw], B, c.tq, qw);
            CPU.kvCacheWrite(hk, Tensor.of(arena, kNew, B, c.tq, w), hl, s);
            CPU.kvCacheWrite(hv, Tensor.of(arena, vNew, B, c.tq, w), hl, s);
            CPU.attentionDecode(hout, Tensor.of(arena, q, B, c.tq, qw), hk, hv, hl, s);

            assertArrayEquals(hk.toFloatArray(), DeviceChecks.download(dk), "k cache after the write, " + context);
            assertArrayEquals(hv.toFloatArray(), DeviceChecks.download(dv), "v cache after the write, " + context);
            KernelChecks.assertClose("emu decode out", DeviceChecks.download(out), hout.toFloatArray(), OUT_TOL, context);
        }
    }

    @Test
    void refusesMismatchedTensorsAndHeadDimsAboveTheKernelsLimit() {
        var d = DeviceChecks.device();
        try (Arena arena = Arena.ofConfined()) {
            DecodeShape wide = new DecodeShape(1, 1, 4, 1, 1, 320, 1f);
            Tensor q = DeviceChecks.bf16(arena, new float[320], 1, 320), cache = DeviceChecks.bf16(arena, new float[4 * 320], 4, 320);
            Tensor lengths = DeviceChecks.ints(arena, new int[] {1}, 1);
            assertThrows(IllegalArgumentException.class,
                    () -> AttentionDecodeKernels.attentionDecode(d, q, q, cache, cache, lengths, wide));
            DecodeShape s = new DecodeShape(1, 1, 5, 1, 1, 320, 1f);
            assertThrows(IllegalArgumentException.class, () -> AttentionDecodeKernels.kvCacheWrite(d, cache, q, lengths, s));
        }
    }
}
