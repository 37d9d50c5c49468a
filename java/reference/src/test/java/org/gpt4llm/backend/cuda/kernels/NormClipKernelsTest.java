package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.device;
import static org.gpt4llm.backend.cuda.kernels.DeviceChecks.download;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.gpt4llm.backend.cpu.KernelChecks;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** kernels/global_norm.cu through the emulation against sums in double. */
class NormClipKernelsTest {
    /** fp32 partial sums of positive terms, tree-reduced, then fp32 atomics: within ~log2(n) ulps. */
    private static final double SUMSQ_TOL = 2e-6;

    @AfterAll
    static void report() {
        KernelChecks.report("norm");
    }

    @Test
    void sumOfSquaresOverSeveralTensors() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        // one element, less than a block, a few blocks, more blocks than one pass of 8 per thread
        int[] sizes = {1, 300, 4097, 2048 * 8 + 5};
        try (Arena arena = Arena.ofConfined()) {
            List<Tensor> tensors = new ArrayList<>();
            double ref = 0;
            for (int size : sizes) {
                float[] x = Numerics.normal(rng, size, 0.1f + rng.nextFloat() * 3);
                for (float f : x) ref += (double) f * f;
                tensors.add(DeviceChecks.f32(arena, x, size));
            }
            Tensor sumsq = DeviceChecks.f32(arena, new float[] {123f}, 1);  // zeroed by the list form
            NormClipKernels.sumOfSquares(device(), sumsq, tensors);
            double err = Math.abs(download(sumsq)[0] - ref) / ref;
            KernelChecks.record("norm sum of squares", err);
            assertTrue(err < SUMSQ_TOL, "sum of squares " + download(sumsq)[0] + " vs " + ref + ", seed " + seed);

            // the single-tensor form accumulates onto what is there
            NormClipKernels.sumOfSquares(device(), sumsq, tensors.get(1));
            float[] x1 = download(tensors.get(1));
            double more = ref;
            for (float f : x1) more += (double) f * f;
            err = Math.abs(download(sumsq)[0] - more) / more;
            KernelChecks.record("norm sum of squares", err);
            assertTrue(err < SUMSQ_TOL, "accumulated sum of squares, seed " + seed);
        }
    }

    @Test
    void clipFactor() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float sumsq = 10f + rng.nextFloat() * 1000f;
        double norm = Math.sqrt(sumsq);
        try (Arena arena = Arena.ofConfined()) {
            Tensor s = DeviceChecks.f32(arena, new float[] {sumsq}, 1), factor = device().allocate(arena, DType.F32, 1);
            // maxNorm below the norm clips; above it, at 0 or negative, the factor is 1
            double[][] cases = {{norm / 3, norm / 3 / (norm + 1e-6)}, {norm * 2, 1}, {0, 1}, {-1, 1}};
            for (double[] c : cases) {
                NormClipKernels.clipFactor(device(), factor, s, (float) c[0]);
                float f = download(factor)[0];
                double err = Math.abs(f - c[1]) / c[1];
                KernelChecks.record("norm clip factor", err);
                assertTrue(err < 1e-6, "clip factor " + f + " for maxNorm " + c[0] + ", expected " + c[1] + ", seed " + seed);
            }
            // an infinite norm stops the step (factor 0), a NaN one leaves the NaN gradients to show
            NormClipKernels.clipFactor(device(), factor, DeviceChecks.f32(arena, new float[] {Float.POSITIVE_INFINITY}, 1), 1f);
            assertEquals(0f, download(factor)[0]);
            NormClipKernels.clipFactor(device(), factor, DeviceChecks.f32(arena, new float[] {Float.NaN}, 1), 1f);
            assertEquals(1f, download(factor)[0]);
        }
    }
}
