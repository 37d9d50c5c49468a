package org.gpt4llm.backend.cuda.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The real GPU device. Without an NVIDIA driver (every machine here) only the refusal and the
 * host-side pieces are checked; where a GPU is present the smoke tests run: memory round trips,
 * a kernel launch with opt-in shared memory, cuBLAS GEMM against a double-precision reference,
 * graph capture and the out-of-memory sentence.
 */
class CudaDeviceTest {
    private static CudaDevice gpu;

    /** The GPU, opened once; the test is skipped (with the reason) where the machine has none. */
    private static synchronized CudaDevice gpu() {
        assumeTrue(CudaAvailability.driverPresent(), "no GPU here: " + CudaAvailability.driverStatus());
        assumeTrue(CudaAvailability.cublasPresent(), "no cuBLAS 12 here: " + CudaAvailability.cublasStatus());
        if (gpu == null) gpu = CudaDevice.open(0);
        return gpu;
    }

    @AfterAll
    static void closeGpu() {
        if (gpu != null) gpu.close();
    }

    @Test
    void refusesWithOneSentenceWhereThereIsNoDriver() {
        assumeFalse(CudaAvailability.driverPresent(), "this machine has an NVIDIA driver");
        CudaException e = assertThrows(CudaException.class, () -> CudaDevice.open(0));
        assertEquals("the cuda backend needs an NVIDIA driver: libcuda.so.1 cannot be loaded on this machine; "
                + "use --backend cpu or cuda-emu", e.getMessage());
        assertTrue(CudaAvailability.driverStatus().startsWith("no NVIDIA driver"), CudaAvailability.driverStatus());
    }

    @Test
    void kernelArgumentsAreCheckedOnTheHost() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, DType.F32, 4);
            JCudaArgs.kernelParams("k", t, Device.NULL, 3, 5L, 1.5f);   // every supported kind
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> JCudaArgs.kernelParams("rmsnorm_forward", t, 2.0));
            assertEquals("argument 1 of kernel rmsnorm_forward is a Double: kernels take Tensor, MemorySegment, Integer, "
                    + "Long or Float", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> JCudaArgs.kernelParams("k", t, null));
            assertTrue(e.getMessage().contains("Device.NULL"), e.getMessage());
        }
    }

    @Test
    void sizesReadLikeTheErrorMessages() {
        assertEquals("2.0 GiB", CudaException.size(2L << 30));
        assertEquals("1.5 MiB", CudaException.size(3L << 19));
        assertEquals("12 bytes", CudaException.size(12));
    }

    /**
     * Without a profiler the ranges cost nothing: with no NVTX library every call is the no-op that
     * answers NO_LIBRARY; with one (a CUDA machine) the calls reach it, and without a tool attached it
     * records nothing, answering a negative value instead of a depth.
     */
    @Test
    void nvtxRangesAreHarmlessWithoutAProfiler() {
        int push = Nvtx.push("test range"), pop = Nvtx.pop();
        if (Nvtx.library() == null) {
            assertEquals(Nvtx.NO_LIBRARY, push);
            assertEquals(Nvtx.NO_LIBRARY, pop);
        } else {
            assertTrue(push != Nvtx.NO_LIBRARY && pop != Nvtx.NO_LIBRARY, "the calls reach " + Nvtx.library());
            if (System.getenv("NSYS_PROFILING_SESSION_ID") == null) assertTrue(push < 0, "no tool records the range: " + push);
        }
    }

    // ---- on a GPU only ----------------------------------------------------------------------

    /** The driver ran the fatbin's checks and loaded an image of it: the GPU's cubin or the PTX. */
    @Test
    void theLoadedKernelImageIsNamed() {
        CudaDevice d = gpu();
        assertTrue(d.kernelImage().matches("sm_\\d+ cubin|compute_\\d+ PTX.*"), d.kernelImage());
        assertTrue(!d.driverCuda().olderThan(CudaDevice.kernels().requiredCuda().orElseThrow()), d.driverCuda().toString());
    }

    @Test
    void memoryRoundTripsThroughTheDevice() {
        CudaDevice d = gpu();
        long seed = TestSeeds.next();
        float[] x = Numerics.normal(new Random(seed), 1001, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = d.allocate(arena, DType.F32, 7, 143);
            float[] zeros = new float[x.length];
            assertArrayEquals(zeros, download(d, t), "allocate zero-fills");
            d.upload(t, MemorySegment.ofArray(x));                 // heap segment: staged
            assertArrayEquals(x, download(d, t), "seed " + seed);
            Tensor u = d.allocate(arena, DType.F32, 7, 143);
            d.copy(u, t);
            d.zero(t.rows(2, 3));                                   // a view: the device pointer plus an offset
            float[] want = x.clone();
            java.util.Arrays.fill(want, 2 * 143, 5 * 143, 0f);
            assertArrayEquals(want, download(d, t));
            assertArrayEquals(x, download(d, u));
            assertEquals(0, d.allocate(arena, DType.BF16, 0, 5).byteSize());
        }
    }

    @Test
    void launchesAKernelWithOptInSharedMemory() {
        CudaDevice d = gpu();
        int blocks = 5, threads = 128;
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = d.allocate(arena, DType.F32, blocks * threads);
            // 64 KiB is more than a kernel gets without cuFuncSetAttribute; the kernel uses its first T floats
            d.launch("selftest_dynamic_smem", Device.Dim3.of(blocks), Device.Dim3.of(threads), 64 << 10, out);
            float[] got = download(d, out);
            for (int b = 0; b < blocks; b++) {
                for (int t = 0; t < threads; t++) assertEquals(b * 1000 + (threads - 1 - t), got[b * threads + t], 0f);
            }
            CudaException e = assertThrows(CudaException.class,
                    () -> d.launch("no_such_kernel", Device.Dim3.of(1), Device.Dim3.of(32), 0));
            assertTrue(e.getMessage().startsWith("kernel no_such_kernel is not in gpt4llm.fatbin"), e.getMessage());
        }
    }

    /** cuBLAS in fp32 and bf16 against a double reference, every transpose, odd sizes, padded strides. */
    @Test
    void gemmMatchesADoubleReference() {
        CudaDevice d = gpu();
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int m = 37, n = 29, k = 53, pad = 3;
        for (DType in : new DType[] {DType.F32, DType.BF16}) {
            for (DType outType : in == DType.F32 ? new DType[] {DType.F32} : new DType[] {DType.BF16, DType.F32}) {
                for (int mode = 0; mode < 4; mode++) {
                    boolean ta = (mode & 1) != 0, tb = (mode & 2) != 0;
                    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
                    float[] a = round(in, Numerics.normal(rng, ar * (ac + pad), 1f));
                    float[] b = round(in, Numerics.normal(rng, br * (bc + pad), 1f));
                    float[] c0 = round(outType, Numerics.normal(rng, m * n, 1f));
                    float alpha = 0.75f, beta = -0.5f;
                    float[] want = new float[m * n];
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double s = 0;
                            for (int p = 0; p < k; p++) {
                                double av = ta ? a[p * (ac + pad) + i] : a[i * (ac + pad) + p];
                                double bv = tb ? b[j * (bc + pad) + p] : b[p * (bc + pad) + j];
                                s += av * bv;
                            }
                            want[i * n + j] = (float) (alpha * s + beta * c0[i * n + j]);
                        }
                    }
                    try (Arena arena = Arena.ofConfined()) {
                        Tensor ta2 = upload(d, arena, in, a, ar, ac + pad), tb2 = upload(d, arena, in, b, br, bc + pad);
                        Tensor tc = upload(d, arena, outType, c0, m, n);
                        d.gemm(ta, tb, m, n, k, alpha, ta2, ac + pad, tb2, bc + pad, beta, tc, n);
                        double err = Numerics.relErr(download(d, tc), want);
                        // fp32 accumulation of exact products: ~1e-6; a bf16 output adds its rounding (2^-9 relative)
                        double tol = outType == DType.BF16 ? 5e-3 : 1e-5;
                        Measurements.record("cuda", "cuBLAS GEMM " + in + "->" + outType + " vs float64", err, tol);
                        assertTrue(err < tol, in + "->" + outType + " transA=" + ta + " transB=" + tb + ": relative error "
                                + err + " (seed " + seed + ")");
                    }
                }
            }
        }
    }

    @Test
    void aCapturedGraphReplaysItsWork() {
        CudaDevice d = gpu();
        try (Arena arena = Arena.ofConfined()) {
            float[] ones = new float[16 * 16];
            java.util.Arrays.fill(ones, 1f);
            Tensor a = upload(d, arena, DType.F32, ones, 16, 16), c = d.allocate(arena, DType.F32, 16, 16);
            // C += A·A three times: every element gains 16 per replay
            try (CudaGraph g = d.captureGraph(() -> d.gemm(false, false, 16, 16, 16, 1f, a, 16, a, 16, 1f, c, 16))) {
                for (int i = 0; i < 3; i++) g.launch();
            }
            for (float v : download(d, c)) assertEquals(48f, v, 0f);
            assertTrue(d.timeMillis(() -> d.zero(c)) >= 0f);
        }
    }

    @Test
    void runningOutOfMemoryIsOneSentence() {
        CudaDevice d = gpu();
        try (Arena arena = Arena.ofConfined()) {
            CudaException e = assertThrows(CudaException.class, () -> d.allocate(arena, DType.F32, 1L << 48));
            assertTrue(e.getMessage().matches("cuMemAlloc of 1048576\\.0 GiB failed: CUDA_ERROR_OUT_OF_MEMORY \\(.* free of .*\\)"),
                    e.getMessage());
        }
    }

    /** The values as the device will hold them: bf16-rounded (round to nearest even) for BF16. */
    private static float[] round(DType t, float[] v) {
        if (t != DType.BF16) return v;
        try (Arena host = Arena.ofConfined()) {
            MemorySegment f = host.allocateFrom(ValueLayout.JAVA_FLOAT, v), b = host.allocate(2L * v.length);
            CpuKernels.f32ToBf16(b, f, v.length);
            CpuKernels.bf16ToF32(f, b, v.length);
            return f.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private static Tensor upload(Device d, Arena arena, DType t, float[] v, long... shape) {
        Tensor dev = d.allocate(arena, t, shape);
        try (Arena host = Arena.ofConfined()) {
            MemorySegment f = host.allocateFrom(ValueLayout.JAVA_FLOAT, v);
            if (t == DType.F32) {
                d.upload(dev, f);
            } else {
                MemorySegment b = host.allocate(2L * v.length);
                CpuKernels.f32ToBf16(b, f, v.length);
                d.upload(dev, b);
            }
        }
        return dev;
    }

    private static float[] download(Device d, Tensor t) {
        try (Arena host = Arena.ofConfined()) {
            Tensor h = Tensor.wrap(host.allocate(t.byteSize(), 64), t.dtype(), t.shape());
            d.download(h.data(), t);
            return h.toFloatArray();
        }
    }
}
