package org.gpt4llm.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiFunction;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class InProcessGroupTest {
    private static List<Backend> backends(String kind, int n) {
        List<Backend> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(kind.equals("cpu") ? new CpuBackend(1) : new CudaBackend(new EmuDevice(1)));
        return out;
    }

    /** Runs {@code body(rank's communicator, rank's backend)} on one thread per rank; returns each rank's result. */
    private static <T> List<T> onRanks(List<Communicator> comms, List<Backend> bes, BiFunction<Communicator, Backend, T> body)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(comms.size());
        try {
            List<Future<T>> fs = new ArrayList<>();
            for (int r = 0; r < comms.size(); r++) {
                Communicator c = comms.get(r);
                Backend be = bes.get(r);
                fs.add(pool.submit(() -> body.apply(c, be)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : fs) out.add(f.get());
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    private static float[][] randomInputs(int ranks, int n) {
        Random rng = TestSeeds.random();
        float[][] x = new float[ranks][n];
        for (float[] row : x) for (int i = 0; i < n; i++) row[i] = (float) rng.nextGaussian();
        return x;
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda-emu"})
    void collectivesGiveTheRankOrderResultOnEveryRank(String kind) throws Exception {
        int ranks = 3, part = 5, n = part * ranks;
        List<Backend> bes = backends(kind, ranks);
        List<Communicator> comms = InProcessGroup.create(bes, Duration.ofSeconds(30));
        float[][] x = randomInputs(ranks, n);
        List<float[][]> got = onRanks(comms, bes, (c, be) -> {
            try (Arena a = Arena.ofConfined()) {
                int r = c.rank();
                Tensor sum = be.allocate(a, DType.F32, n), avg = be.allocate(a, DType.F32, n);
                Tensor scattered = be.allocate(a, DType.F32, part), gathered = be.allocate(a, DType.F32, n);
                Tensor bcast = be.allocate(a, DType.F32, n), src = be.allocate(a, DType.F32, n);
                be.upload(sum, Tensor.of(a, x[r], n));
                be.upload(avg, Tensor.of(a, x[r], n));
                be.upload(src, Tensor.of(a, x[r], n));
                be.upload(bcast, Tensor.of(a, x[r], n));
                c.allReduce(sum, Communicator.ReduceOp.SUM);
                c.allReduce(avg, Communicator.ReduceOp.AVG);
                c.reduceScatter(src, scattered, Communicator.ReduceOp.SUM);
                c.allGather(scattered, gathered);
                c.broadcast(bcast, 1);
                c.barrier();
                return new float[][] {be.download(sum), be.download(avg), be.download(scattered), be.download(gathered),
                        be.download(bcast)};
            }
        });
        float[] sum = new float[n];
        for (int i = 0; i < n; i++) sum[i] = (x[0][i] + x[1][i]) + x[2][i];  // rank order, in fp32
        for (int r = 0; r < ranks; r++) {
            float[][] g = got.get(r);
            assertArrayEquals(sum, g[0], 0f, "all-reduce sum on rank " + r);
            for (int i = 0; i < n; i++) assertEquals(sum[i] / ranks, g[1][i], 0f, "all-reduce avg on rank " + r);
            assertArrayEquals(java.util.Arrays.copyOfRange(sum, r * part, (r + 1) * part), g[2], 0f, "reduce-scatter on rank " + r);
            assertArrayEquals(sum, g[3], 0f, "all-gather of the scattered sums on rank " + r);
            assertArrayEquals(x[1], g[4], 0f, "broadcast from rank 1 on rank " + r);
        }
        for (Backend be : bes) be.close();
    }

    @Test
    void bf16BuffersAreReducedInFp32AndRoundedOnce() throws Exception {
        List<Backend> bes = backends("cuda-emu", 2);
        List<Communicator> comms = InProcessGroup.create(bes, Duration.ofSeconds(30));
        float[][] x = randomInputs(2, 8);
        List<float[]> got = onRanks(comms, bes, (c, be) -> {
            try (Arena a = Arena.ofConfined()) {
                Tensor t = be.allocate(a, DType.BF16, 8);
                be.upload(t, Tensor.of(a, x[c.rank()], 8));
                float[] before = be.download(t);
                Tensor f = be.allocate(a, DType.F32, 8);
                be.upload(f, Tensor.of(a, before, 8));
                c.allReduce(t, Communicator.ReduceOp.SUM);
                c.allReduce(f, Communicator.ReduceOp.SUM);
                Tensor rounded = be.allocate(a, DType.BF16, 8);
                be.convert(rounded, f);
                return new float[][] {be.download(t), be.download(rounded)};
            }
        }).stream().map(p -> p[0].length == 8 && java.util.Arrays.equals(p[0], p[1]) ? p[0] : null).toList();
        assertTrue(got.get(0) != null && got.get(1) != null, "BF16 all-reduce = fp32 sum of the BF16 values, rounded once");
        for (Backend be : bes) be.close();
    }

    @Test
    void aRankThatFailsEndsTheOthersWithASentenceNamingIt() throws Exception {
        List<Backend> bes = backends("cpu", 3);
        List<Communicator> comms = InProcessGroup.create(bes, Duration.ofMinutes(5));
        long t0 = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (Communicator c : comms) {
                fs.add(pool.submit(() -> {
                    try (Arena a = Arena.ofConfined()) {
                        Tensor t = bes.get(c.rank()).allocate(a, DType.F32, 4);
                        if (c.rank() == 1) {
                            c.abort(new IllegalStateException("out of memory in the forward"));
                            return null;
                        }
                        c.allReduce(t, Communicator.ReduceOp.SUM);
                        return null;
                    }
                }));
            }
            for (int r : new int[] {0, 2}) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> fs.get(r).get());
                assertTrue(e.getCause() instanceof CommunicatorException, "" + e.getCause());
                assertEquals("rank 1 failed (IllegalStateException: out of memory in the forward), so all-reduce on rank "
                        + r + " cannot complete", e.getCause().getMessage());
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the failure ended the waits at once, not after the timeout");
    }

    @Test
    void aRankThatNeverArrivesEndsTheWaitAfterTheTimeout() throws Exception {
        List<Backend> bes = backends("cpu", 2);
        List<Communicator> comms = InProcessGroup.create(bes, Duration.ofMillis(300));
        try (Arena a = Arena.ofConfined()) {
            Tensor t = bes.get(0).allocate(a, DType.F32, 4);
            CommunicatorException e = assertThrows(CommunicatorException.class, () -> comms.get(0).broadcast(t, 0));
            assertEquals("broadcast on rank 0 waited 0 s for rank 1, which never arrived", e.getMessage());
            // and the rank that comes late learns why its collective cannot complete
            CommunicatorException late = assertThrows(CommunicatorException.class, () -> comms.get(1).broadcast(t, 0));
            assertTrue(late.getMessage().startsWith("broadcast on rank 0 waited"), late.getMessage());
        }
    }

    @Test
    void ranksCallingDifferentCollectivesAreToldSo() throws Exception {
        List<Backend> bes = backends("cpu", 2);
        List<Communicator> comms = InProcessGroup.create(bes, Duration.ofSeconds(30));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (Arena a = Arena.ofShared()) {
            Tensor t0 = bes.get(0).allocate(a, DType.F32, 2), t1 = bes.get(1).allocate(a, DType.F32, 2);
            Future<?> f0 = pool.submit(() -> comms.get(0).allReduce(t0, Communicator.ReduceOp.SUM));
            Future<?> f1 = pool.submit(() -> comms.get(1).broadcast(t1, 0));
            List<String> messages = new ArrayList<>();
            for (Future<?> f : List.of(f0, f1)) {
                ExecutionException e = assertThrows(ExecutionException.class, f::get);
                messages.add(e.getCause().getMessage());
            }
            assertTrue(messages.stream().allMatch(m -> m.contains("called broadcast while rank") || m.contains("called all-reduce while rank")),
                    messages.toString());
        } finally {
            pool.shutdownNow();
        }
    }
    /**
     * A rank's companion is a group of its own: rank 0's gather through it completes while rank 0's first
     * communicator waits in a broadcast for rank 1, which gathers first; an abort on either ends both.
     */
    @Test
    void aCompanionRunsItsCollectivesBesideTheFirstAndAnAbortEndsBoth() throws Exception {
        List<Backend> bes = backends("cpu", 2);
        List<Communicator> comms = InProcessGroup.create(bes, Duration.ofSeconds(30));
        assertEquals(1, comms.get(1).companion().rank());
        assertEquals(2, comms.get(1).companion().size());
        assertEquals(null, comms.get(0).companion().companion());
        float[][] x = randomInputs(2, 3);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try (Arena a = Arena.ofShared()) {
            Tensor[] parts = new Tensor[2], wholes = new Tensor[2], signals = new Tensor[2];
            for (int r = 0; r < 2; r++) {
                parts[r] = Tensor.of(a, x[r], 3);
                wholes[r] = bes.get(r).allocate(a, DType.F32, 6);
                signals[r] = Tensor.of(a, new float[] {r == 0 ? 7f : 0f}, 1);
            }
            Future<?> waiting = pool.submit(() -> comms.get(0).broadcast(signals[0], 0));
            Future<?> beside = pool.submit(() -> comms.get(0).companion().allGather(parts[0], wholes[0]));
            Future<?> rank1 = pool.submit(() -> {
                comms.get(1).companion().allGather(parts[1], wholes[1]);
                comms.get(1).broadcast(signals[1], 0);
            });
            for (Future<?> f : List.of(beside, waiting, rank1)) f.get();
            float[] want = {x[0][0], x[0][1], x[0][2], x[1][0], x[1][1], x[1][2]};
            for (int r = 0; r < 2; r++) assertArrayEquals(want, bes.get(r).download(wholes[r]));
            assertEquals(7f, bes.get(1).download(signals[1])[0]);

            long t0 = System.nanoTime();
            Future<?> stranded = pool.submit(() -> comms.get(0).companion().allGather(parts[0], wholes[0]));
            comms.get(1).abort(new IllegalStateException("out of memory"));
            ExecutionException e = assertThrows(ExecutionException.class, stranded::get);
            assertEquals("rank 1 failed (IllegalStateException: out of memory), so all-gather on rank 0 cannot complete",
                    e.getCause().getMessage());
            assertThrows(CommunicatorException.class, () -> comms.get(0).barrier());
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the abort ended the companion's wait at once");
        } finally {
            pool.shutdownNow();
        }
    }
}
