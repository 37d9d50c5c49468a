package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * OpenBLAS's thread count is one for the process and a GEMM's rounding depends on it: GEMMs that want
 * different counts, called from several threads at once (the ranks of one process, emulated devices,
 * a backend's skinny GEMMs beside another's), each give exactly the result of their own count alone.
 */
class OpenBlasTurnsTest {
    private static final int M = 128, N = 512, K = 64, ROUNDS = 150;

    @Test
    void concurrentGemmsOfDifferentThreadCountsGiveTheirOwnCountsResults() throws Exception {
        Random rng = TestSeeds.random();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) M * K, rng), b = random(arena, (long) N * K, rng);
            float[] one = gemm(1, a, b), two = gemm(2, a, b);
            assumeFalse(Arrays.equals(one, two), "OpenBLAS rounds this GEMM alike on 1 and 2 threads here: nothing to tell apart");
            int before = OpenBlas.getNumThreads();
            int callers = 4;
            CyclicBarrier start = new CyclicBarrier(callers);
            ExecutorService pool = Executors.newFixedThreadPool(callers);
            try {
                List<Future<Integer>> mismatches = new ArrayList<>();
                for (int t = 0; t < callers; t++) {
                    int threads = 1 + t % 2;
                    float[] want = threads == 1 ? one : two;
                    mismatches.add(pool.submit(() -> {
                        start.await();
                        int bad = 0;
                        for (int r = 0; r < ROUNDS; r++) if (!Arrays.equals(want, gemm(threads, a, b))) bad++;
                        return bad;
                    }));
                }
                int[] bad = new int[callers];
                for (int t = 0; t < callers; t++) bad[t] = mismatches.get(t).get();
                assertArrayEquals(new int[callers], bad, "GEMMs (of " + ROUNDS + " per caller, callers on 1, 2, 1, 2 threads)"
                        + " whose result differs from their thread count's alone");
            } finally {
                pool.shutdownNow();
            }
            assertEquals(before, OpenBlas.getNumThreads(), "the thread count once the GEMMs are done");
        }
    }

    /** C [M, N] = A [M, K] · B [N, K]ᵀ on {@code threads} OpenBLAS threads. */
    private static float[] gemm(int threads, MemorySegment a, MemorySegment b) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate((long) M * N * Float.BYTES, 64);
            OpenBlas.sgemm(threads, false, true, M, N, K, 1f, a, K, b, K, 0f, c, N);
            return c.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private static MemorySegment random(Arena arena, long n, Random rng) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextGaussian());
        return s;
    }
}
