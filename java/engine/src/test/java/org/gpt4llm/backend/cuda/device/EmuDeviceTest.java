package org.gpt4llm.backend.cuda.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CUDA emulation runtime through {@link EmuDevice}, with the self-test kernels of
 * kernels/emu_selftest.cu: every result is integer-valued or exactly predictable, so the checks
 * are exact; GEMM is checked against a double-precision reference.
 */
class EmuDeviceTest {
    static final EmuDevice DEV = new EmuDevice(2);

    static Tensor ints(Arena arena, int[] v) {
        Tensor t = DEV.allocate(arena, DType.I32, v.length);
        DEV.upload(t, MemorySegment.ofArray(v));
        return t;
    }

    static Tensor floats(Arena arena, float[] v) {
        Tensor t = DEV.allocate(arena, DType.F32, v.length);
        DEV.upload(t, MemorySegment.ofArray(v));
        return t;
    }

    static int[] intsOf(Tensor t) {
        int[] out = new int[(int) t.numel()];
        DEV.download(MemorySegment.ofArray(out), t);
        return out;
    }

    static float[] floatsOf(Tensor t) {
        float[] out = new float[(int) t.numel()];
        DEV.download(MemorySegment.ofArray(out), t);
        return out;
    }

    @ParameterizedTest(name = "grid {0}, block {1}, {2} live")
    @CsvSource({"3, 100, 37", "2, 64, 64", "1, 45, 1", "4, 256, 200", "1, 1024, 513", "2, 33, 32"})
    void barriersLetReturnedThreadsDropOut(int blocks, int threads, int live) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.I32, (long) blocks * threads);
            DEV.launch("selftest_barrier_exit", Dim3.of(blocks), Dim3.of(threads), 0, out, live);
            int sum = live * (live - 1) / 2;
            int[] got = intsOf(out);
            for (int b = 0; b < blocks; b++) {
                for (int t = 0; t < threads; t++) {
                    assertEquals(t < live ? sum + t : -1, got[b * threads + t], "block " + b + " thread " + t);
                }
            }
        }
    }

    /** The reference of selftest_shuffle, with CUDA's width rules; absent lanes give the reader's own value. */
    static float[] shuffleReference(float[] in) {
        int n = in.length;
        float[] out = new float[6 * n];
        for (int tid = 0; tid < n; tid++) {
            int lane = tid % 32, base = tid - lane;
            int[] src = {
                (lane * 7 + 3) % 32,
                lane ^ 5,
                lane >= 3 ? lane - 3 : lane,
                lane + 3 < 32 ? lane + 3 : lane,
                (lane & ~7) + ((2 * lane + 1) & 7),
                lane ^ 1,
            };
            for (int k = 0; k < 6; k++) {
                int s = base + src[k] < n ? base + src[k] : tid;
                out[k * n + tid] = k == 5 ? (float) (int) in[s] : in[s];
            }
        }
        return out;
    }

    @ParameterizedTest(name = "block {0}")
    @CsvSource({"32", "64", "45", "7", "256"})
    void shufflesFollowCudaLaneRules(int threads) {
        long seed = TestSeeds.next();
        float[] in = Numerics.uniform(new Random(seed), threads, -100, 100);
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.F32, 6L * threads);
            DEV.launch("selftest_shuffle", Dim3.of(1), Dim3.of(threads), 0, out, floats(arena, in));
            assertArrayEquals(shuffleReference(in), floatsOf(out), "seed " + seed);
        }
    }

    @ParameterizedTest(name = "block {0}")
    @CsvSource({"32", "96", "50"})
    void votesSeeEveryPresentLane(int threads) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] in = new int[threads];
        for (int i = 0; i < threads; i++) in[i] = rng.nextInt(240) - 110;  // all > -100 is rare, so force some warps
        for (int i = 32; i < Math.min(threads, 64); i++) in[i] = Math.abs(in[i]) % 90;
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.I32, 3L * threads);
            DEV.launch("selftest_vote", Dim3.of(1), Dim3.of(threads), 0, out, ints(arena, in));
            int[] got = intsOf(out);
            for (int tid = 0; tid < threads; tid++) {
                int base = tid - tid % 32, ballot = 0;
                boolean any = false, all = true;
                for (int l = 0; l < 32 && base + l < threads; l++) {
                    if (in[base + l] > 0) ballot |= 1 << l;
                    any |= in[base + l] > 100;
                    all &= in[base + l] > -100;
                }
                String ctx = "seed " + seed + ", thread " + tid;
                assertEquals(ballot, got[tid], "ballot, " + ctx);
                assertEquals(any ? 1 : 0, got[threads + tid], "any, " + ctx);
                assertEquals(all ? 1 : 0, got[2 * threads + tid], "all, " + ctx);
            }
        }
    }

    @Test
    void atomicsLoseNoUpdate() {
        int blocks = 3, threads = 160, n = blocks * threads;
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float[] in = new float[n];
        double fsum = 0;
        for (int i = 0; i < n; i++) {
            in[i] = rng.nextInt(17) - 8 + 0.5f * rng.nextInt(2);  // halves: every partial sum is exact in fp32
            fsum += in[i];
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor f = DEV.allocate(arena, DType.F32, 1), i32 = DEV.allocate(arena, DType.I32, 1);
            Tensor u64 = DEV.allocate(arena, DType.I64, 1), max = DEV.allocate(arena, DType.I32, 1);
            Tensor cas = DEV.allocate(arena, DType.I32, 1);
            DEV.launch("selftest_atomics", Dim3.of(blocks), Dim3.of(threads), 0, f, i32, u64, max, cas, floats(arena, in));
            int maxRef = 0;
            for (int i = 0; i < n; i++) maxRef = Math.max(maxRef, i * 37 % 1001);
            assertEquals((float) fsum, floatsOf(f)[0], "seed " + seed);
            assertEquals(n * (n - 1) / 2, intsOf(i32)[0]);
            assertEquals((long) n * (1L << 40) + (long) n * (n - 1) / 2, u64.data().get(ValueLayout.JAVA_LONG, 0));
            assertEquals(maxRef, intsOf(max)[0]);
            assertEquals(n, intsOf(cas)[0]);
        }
    }

    @Test
    void dynamicSharedMemoryIsPerBlock() {
        int blocks = 3, threads = 96;
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.F32, (long) blocks * threads);
            DEV.launch("selftest_dynamic_smem", Dim3.of(blocks), Dim3.of(threads), threads * 4, out);
            float[] got = floatsOf(out);
            for (int b = 0; b < blocks; b++) {
                for (int t = 0; t < threads; t++) assertEquals(b * 1000 + threads - 1 - t, got[b * threads + t]);
            }
        }
    }

    /** Round to nearest even on the 16 dropped bits; NaN becomes the canonical 0x7fff of cvt.rn.bf16.f32. */
    static short bf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return 0x7fff;
        return (short) ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
    }

    @Test
    void bf16RoundsToNearestEven() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = 1000;
        float[] in = new float[n];
        for (int i = 0; i < n; i++) in[i] = (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(20) - 10));
        // ties in both directions, the largest finite values (one rounds to Inf), subnormals, specials
        float[] special = {
            Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000), Float.intBitsToFloat(0x3f808001),
            Float.intBitsToFloat(0x7f7f7fff), Float.intBitsToFloat(0x7f7f8000), Float.MAX_VALUE, Float.MIN_VALUE,
            Float.intBitsToFloat(0x00018000), Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0.0f,
            0.0f, -Float.intBitsToFloat(0x3f808000),
        };
        System.arraycopy(special, 0, in, 0, special.length);
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.BF16, n), back = DEV.allocate(arena, DType.F32, n);
            DEV.launch("selftest_bf16_round", Dim3.of((n + 255) / 256), Dim3.of(256), 0, out, back, floats(arena, in), n);
            float[] backs = floatsOf(back);
            for (int i = 0; i < n; i++) {
                short want = bf16(in[i]);
                short got = out.data().getAtIndex(ValueLayout.JAVA_SHORT, i);
                assertEquals(want, got, "bf16 of " + in[i] + " (bits 0x" + Integer.toHexString(Float.floatToRawIntBits(in[i]))
                        + "), seed " + seed);
                float wantBack = Float.intBitsToFloat((want & 0xffff) << 16);
                if (!Float.isNaN(wantBack)) assertEquals(wantBack, backs[i], "bf16x2 round trip of " + in[i]);
            }
        }
    }

    @Test
    void badLaunchDimensionsAreReportedNotFatal() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.I32, 4096);
            var e = assertThrows(IllegalStateException.class,
                    () -> DEV.launch("selftest_barrier_exit", Dim3.of(1), Dim3.of(2048), 0, out, 1));
            assertTrue(e.getMessage().contains("selftest_barrier_exit") && e.getMessage().contains("1024"), e.getMessage());
            e = assertThrows(IllegalStateException.class,
                    () -> DEV.launch("selftest_barrier_exit", Dim3.of(1), new Dim3(32, 32, 2), 0, out, 1));
            assertTrue(e.getMessage().contains("32x32x2"), e.getMessage());
            e = assertThrows(IllegalStateException.class,
                    () -> DEV.launch("selftest_dynamic_smem", Dim3.of(1), Dim3.of(32), 1 << 20, out));
            assertTrue(e.getMessage().contains("shared memory"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Dim3.of(0));
            // the runtime is still usable afterwards
            barriersLetReturnedThreadsDropOut(1, 64, 10);
        }
    }

    @Test
    void unknownKernelAndWrongArgumentsAreNamed() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.I32, 64);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> DEV.launch("no_such_kernel", Dim3.of(1), Dim3.of(32), 0, out));
            assertTrue(e.getMessage().contains("no_such_kernel"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> DEV.launch("selftest_barrier_exit", Dim3.of(1), Dim3.of(32), 0, out));
            assertTrue(e.getMessage().contains("takes (pointer, int) but was given (pointer)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> DEV.launch("selftest_barrier_exit", Dim3.of(1), Dim3.of(32), 0, out, 3L));
            assertTrue(e.getMessage().contains("(pointer, long long)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> DEV.launch("selftest_barrier_exit", Dim3.of(1), Dim3.of(32), 0, out, 2.0));
            assertTrue(e.getMessage().contains("Double"), e.getMessage());
        }
    }

    @Test
    void deadlockIsReportedNotHung() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.F32, 64);
            var e = assertThrows(IllegalStateException.class,
                    () -> DEV.launch("selftest_deadlock", Dim3.of(1), Dim3.of(64), 0, out));
            assertTrue(e.getMessage().contains("selftest_deadlock") && e.getMessage().contains("deadlocked"), e.getMessage());
            barriersLetReturnedThreadsDropOut(2, 64, 64);
        }
    }

    /**
     * A launching thread runs blocks itself, on a worker slot it holds until it ends: more threads than
     * there are slots (32), one after another, all launch, and the slots they leave are taken again.
     */
    @Test
    void launchingThreadsGiveTheirWorkerSlotsBack() throws Exception {
        for (int i = 0; i < 40; i++) {
            int blocks = 1 + i % 4;
            Throwable[] failure = new Throwable[1];
            Thread t = new Thread(() -> {
                try {
                    barriersLetReturnedThreadsDropOut(blocks, 64, 33);
                } catch (Throwable e) {
                    failure[0] = e;
                }
            });
            t.start();
            t.join();
            if (failure[0] != null) throw new AssertionError("launch from thread " + i, failure[0]);
        }
        // join() returns once the Java thread is done; the native thread gives its slot back in its
        // thread-local destructors just after, which a loaded machine may delay for a while
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (EmuDevice.workerThreads() > 3 && System.nanoTime() < deadline) Thread.sleep(10);
        assertTrue(EmuDevice.workerThreads() <= 3, "slots held: " + EmuDevice.workerThreads());
    }

    // ---- the sanitizer: each detector against a kernel of emu_selftest.cu that breaks its rule ----

    /** The launch fails with a message naming the kernel, the thread and what went wrong; the runtime stays usable. */
    void assertCaught(Runnable launch, String kernel, String thread, String... phrases) {
        assumeTrue(EmuDevice.sanitizer(), "the emulation's sanitizer is off");
        var e = assertThrows(IllegalStateException.class, launch::run);
        String m = e.getMessage();
        assertTrue(m.startsWith("kernel " + kernel + ": "), m);
        assertTrue(m.contains(thread), "expected " + thread + " in: " + m);
        for (String p : phrases) assertTrue(m.contains(p), "expected \"" + p + "\" in: " + m);
        barriersLetReturnedThreadsDropOut(2, 64, 40);
    }

    @Test
    void outOfBoundsGlobalAccessIsReported() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 100;
            Tensor out = DEV.allocate(arena, DType.F32, n);
            // block 3 of 32 threads: thread 4 is element 100, one past the end
            assertCaught(() -> DEV.launch("selftest_global_oob", Dim3.of(4), Dim3.of(32), 0, out, n), "selftest_global_oob",
                    "block (3,0,0), thread (4,0,0)", "out-of-bounds global access: 4-byte write",
                    "0 bytes past the end of the 400-byte allocation");
            assertCaught(() -> DEV.launch("selftest_global_oob", Dim3.of(1), Dim3.of(32), 0, Device.NULL, 0),
                    "selftest_global_oob", "thread (0,0,0)", "null pointer access");
        }
    }

    @Test
    void useAfterFreeIsReported() {
        Tensor freed;
        try (Arena arena = Arena.ofConfined()) {
            freed = DEV.allocate(arena, DType.F32, 64);
        }
        assertCaught(() -> DEV.launch("selftest_global_oob", Dim3.of(1), Dim3.of(1), 0, freed, 0), "selftest_global_oob",
                "thread (0,0,0)", "out-of-bounds global access", "which has been freed");
    }

    @Test
    void outOfBoundsSharedAccessIsReported() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.F32, 64);
            assertCaught(() -> DEV.launch("selftest_shared_oob", Dim3.of(1), Dim3.of(64), 64 * 4, out), "selftest_shared_oob",
                    "thread (63,0,0)", "out-of-bounds shared access: 4-byte write", "offset 256 of dynamic shared memory",
                    "past the 256 bytes of the launch");
            assertCaught(() -> DEV.launch("selftest_static_shared_oob", Dim3.of(1), Dim3.of(41), 0, out),
                    "selftest_static_shared_oob", "thread (40,0,0)", "out-of-bounds shared access: 4-byte write",
                    "0 bytes past the end of the 160-byte __shared__ selftest_static_shared_oob(float*)::tile");
            // 40 threads stay inside the array
            DEV.launch("selftest_static_shared_oob", Dim3.of(1), Dim3.of(40), 0, out);
            float[] got = floatsOf(out);
            for (int t = 0; t < 40; t++) assertEquals((t + 1) % 40, got[t], "thread " + t);
        }
    }

    @Test
    void sharedMemoryRacesAreReported() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.F32, 64);
            // thread 63 runs on first after the barrier and reads thread 31's element, which 31 then rewrites
            assertCaught(() -> DEV.launch("selftest_shared_race", Dim3.of(1), Dim3.of(64), 64 * 4, out),
                    "selftest_shared_race", "thread (31,0,0)", "shared-memory race: this thread's 4-byte write",
                    "a read by thread (63,0,0) in the same barrier interval");
            assertCaught(() -> DEV.launch("selftest_warp_race", Dim3.of(1), Dim3.of(32), 32 * 4, out, 0),
                    "selftest_warp_race", "thread (1,0,0)", "shared-memory race", "a read by thread (0,0,0)");
            // the __syncwarp orders the lanes
            DEV.launch("selftest_warp_race", Dim3.of(1), Dim3.of(32), 32 * 4, out, 1);
            float[] got = floatsOf(out);
            for (int lane = 0; lane < 32; lane++) assertEquals(2 * (lane ^ 1), got[lane], "lane " + lane);
        }
    }

    @Test
    void atomicsRaceOnlyWithPlainAccesses() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = DEV.allocate(arena, DType.I32, 64);
            assertCaught(() -> DEV.launch("selftest_atomic_race", Dim3.of(1), Dim3.of(64), 4, out, 1),
                    "selftest_atomic_race", "thread (", "shared-memory race: this thread's 4-byte atomic", "a read by thread");
            DEV.launch("selftest_atomic_race", Dim3.of(1), Dim3.of(64), 4, out, 0);
            for (int v : intsOf(out)) assertEquals(64, v);
        }
    }

    @Test
    void readsOfUninitialisedMemoryAreReported() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 100;
            Tensor out = DEV.allocate(arena, DType.F32, n), in = DEV.allocateUninitialized(arena, DType.F32, n);
            assertCaught(() -> DEV.launch("selftest_uninit_global", Dim3.of(4), Dim3.of(32), 0, out, in, n),
                    "selftest_uninit_global", "thread (0,0,0)", "read of uninitialised device memory: 4-byte read",
                    "offset 0 of the 400-byte allocation");
            assertCaught(() -> DEV.launch("selftest_uninit_shared", Dim3.of(1), Dim3.of(64), 64 * 4, out),
                    "selftest_uninit_shared", "thread (63,0,0)", "read of uninitialised shared memory",
                    "no thread of this block has written");
            // written by an upload, by zero() or by a copy of written memory: read cleanly
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = i;
            DEV.upload(in, MemorySegment.ofArray(v));
            DEV.launch("selftest_uninit_global", Dim3.of(4), Dim3.of(32), 0, out, in, n);
            assertArrayEquals(v, floatsOf(out));
            Tensor copied = DEV.allocateUninitialized(arena, DType.F32, n), zeroed = DEV.allocateUninitialized(arena, DType.F32, n);
            DEV.copy(copied, in);
            DEV.zero(zeroed);
            DEV.launch("selftest_uninit_global", Dim3.of(4), Dim3.of(32), 0, out, copied, n);
            assertArrayEquals(v, floatsOf(out));
            DEV.launch("selftest_uninit_global", Dim3.of(4), Dim3.of(32), 0, out, zeroed, n);
            assertArrayEquals(new float[n], floatsOf(out));
            // a GEMM reads its operands too
            Tensor a = DEV.allocateUninitialized(arena, DType.F32, 4, 4), c = DEV.allocate(arena, DType.F32, 4, 4);
            var e = assertThrows(IllegalStateException.class, () -> DEV.gemm(false, false, 4, 4, 4, 1f, a, 4, zeroed, 4, 0f, c, 4));
            assertTrue(e.getMessage().contains("gemm reads uninitialised device memory: element (0, 0) of A"), e.getMessage());
        }
    }

    /** Values of a tensor of dtype d holding v: BF16 stores v rounded, so the reference must use that. */
    static Tensor matrix(Arena arena, DType d, float[] v) {
        Tensor t = DEV.allocate(arena, d, v.length);
        if (d == DType.F32) {
            DEV.upload(t, MemorySegment.ofArray(v));
        } else {
            short[] h = new short[v.length];
            for (int i = 0; i < v.length; i++) {
                h[i] = bf16(v[i]);
                v[i] = Float.intBitsToFloat((h[i] & 0xffff) << 16);
            }
            DEV.upload(t, MemorySegment.ofArray(h));
        }
        return t;
    }

    @ParameterizedTest(name = "transA={0} transB={1} AB={2} C={3} beta={4}")
    @CsvSource({
        "false, false, F32, F32, 0", "true, false, F32, F32, 0.5", "false, true, F32, F32, -1", "true, true, F32, F32, 0",
        "false, false, BF16, BF16, 0", "true, false, BF16, BF16, 0.5", "false, true, BF16, F32, 0.25",
        "true, true, BF16, BF16, 1", "false, false, F32, BF16, 0.5", "true, true, BF16, F32, 0",
    })
    void gemmMatchesDoubleReference(boolean transA, boolean transB, DType ab, DType cType, float beta) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int m = 7 + rng.nextInt(20), n = 5 + rng.nextInt(20), k = 3 + rng.nextInt(40);
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = aCols + rng.nextInt(3), ldb = bCols + rng.nextInt(3), ldc = n + rng.nextInt(3);
        float alpha = 1.25f;
        float[] a = Numerics.normal(rng, aRows * lda, 1f), b = Numerics.normal(rng, bRows * ldb, 1f);
        float[] c = Numerics.normal(rng, m * ldc, 1f);
        String ctx = "seed " + seed + ", m=" + m + " n=" + n + " k=" + k + " lda=" + lda + " ldb=" + ldb + " ldc=" + ldc;
        try (Arena arena = Arena.ofConfined()) {
            Tensor ta = matrix(arena, ab, a), tb = matrix(arena, ab, b), tc = matrix(arena, cType, c);
            DEV.gemm(transA, transB, m, n, k, alpha, ta, lda, tb, ldb, beta, tc, ldc);
            float[] got = tc.toFloatArray(), ref = new float[m * n], ours = new float[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += (double) a[transA ? p * lda + i : i * lda + p] * b[transB ? j * ldb + p : p * ldb + j];
                    }
                    ref[i * n + j] = (float) (alpha * s + beta * (double) c[i * ldc + j]);
                    ours[i * n + j] = got[i * ldc + j];
                }
                for (int j = n; j < ldc; j++) assertEquals(c[i * ldc + j], got[i * ldc + j], "padding of C, " + ctx);
            }
            // fp32 accumulation over k <= 42 terms: ~1e-6; a BF16 C adds one rounding of 2^-9 relative
            double tol = cType == DType.F32 ? 1e-5 : 4e-3;
            double err = Numerics.relErr(ours, ref);
            assertTrue(err < tol, "gemm relative error " + err + " >= " + tol + " (" + ctx + ")");
        }
    }

    @Test
    void gemmRejectsOperandsThatDoNotFit() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = DEV.allocate(arena, DType.F32, 4, 4), c = DEV.allocate(arena, DType.F32, 4, 4);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> DEV.gemm(false, false, 4, 4, 5, 1f, a, 5, a, 4, 0f, c, 4));
            assertTrue(e.getMessage().contains("needs"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> DEV.gemm(false, false, 4, 4, 4, 1f, a, 4, DEV.allocate(arena, DType.BF16, 4, 4), 4, 0f, c, 4));
        }
    }

    @Test
    void describesItselfAndBalancesRanges() {
        assertTrue(DEV.describe().startsWith("CUDA emulation on the CPU (2 worker threads, sanitizer "), DEV.describe());
        DEV.rangePush("step");
        DEV.rangePop();
        assertThrows(IllegalStateException.class, DEV::rangePop);
    }
}
