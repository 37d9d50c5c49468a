package org.gpt4llm.backend.cuda.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.backend.cuda.kernels.ActivationKernels;
import org.gpt4llm.backend.cuda.kernels.StepKernels;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * What {@link EmuDevice} counts ({@link DeviceCounters}), and its graphs: captured work does not run
 * until launched, each launch runs it again with the argument values it was captured with (so a
 * value passed by value is stale on replay, one read from device memory is fresh), and the host
 * round trips that break a CUDA stream capture are refused while capturing.
 */
class EmuCaptureTest {
    @Test
    void countsEveryKindOfWork() {
        EmuDevice dev = new EmuDevice();
        DeviceCounters start = dev.counters();
        float[] host = new float[64];
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = dev.allocate(arena, DType.F32, 8, 8), b = dev.allocate(arena, DType.F32, 8, 8);
            dev.allocate(arena, DType.F32, 0);  // nothing to allocate
            dev.upload(a, arena.allocate(a.byteSize()));          // native: queued, no wait
            dev.upload(b, MemorySegment.ofArray(host));           // heap: staged, waited for
            dev.copy(b, a);
            dev.zero(a);
            ActivationKernels.scale(dev, a, 2f);
            dev.gemm(false, false, 8, 8, 8, 1f, a, 8, a, 8, 0f, b, 8);
            dev.download(MemorySegment.ofArray(host), a);
            dev.synchronize();
            DeviceCounters d = dev.counters().minus(start);
            assertEquals(new DeviceCounters(1, 1, 0, 3, 2, 0, 2, 512, 1, 256, 1, 1), d);
        }
        DeviceCounters d = dev.counters().minus(start);
        assertEquals(2, d.frees(), "both allocations freed with their arena");
        assertEquals(5, d.synchronizations(), "a free waits for the device");
        assertTrue(d.toString().startsWith("launches 1, gemms 1, graphs 0, syncs 5, allocs 2, frees 2, H2D 2 (512 B)"), d.toString());
    }

    @Test
    void aGraphReplaysItsArgumentValuesAndReadsMemoryFresh() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        EmuDevice dev = new EmuDevice();
        float[] x0 = Numerics.normal(rng, 100, 1f);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = floats(dev, arena, x0), clip = dev.allocate(arena, DType.F32, 1);
            Tensor sumsq = floats(dev, arena, new float[] {16f}), loss = floats(dev, arena, new float[] {1f});
            float[] factor = {3f};
            float[] maxNorm = {2f};
            DeviceCounters before = dev.counters();
            Backend.Graph g = dev.captureGraph(() -> {
                ActivationKernels.scale(dev, x, factor[0]);                           // 3, by value
                StepKernels.clipFactor(dev, clip, sumsq, loss, maxNorm[0]);           // max norm 2 by value, sumsq read
            });
            assertArrayEquals(x0, floatsOf(dev, x), "capturing runs nothing");
            assertEquals(0f, floatsOf(dev, clip)[0]);
            factor[0] = 5f;
            maxNorm[0] = 8f;
            dev.upload(sumsq, MemorySegment.ofArray(new float[] {100f}));  // sqrt = 10
            DeviceCounters replay = dev.counters();
            g.launch();
            assertEquals(1, dev.counters().minus(replay).graphLaunches());
            assertEquals(0, dev.counters().minus(replay).launches(), "the work inside a replay is not counted as launches");
            g.launch();
            g.close();
            float[] x2 = floatsOf(dev, x);
            for (int i = 0; i < x0.length; i++) {
                // the captured factor 3 twice, not the 5 the host holds now
                assertEquals(x0[i] * 3f * 3f, x2[i], 0f, "x[" + i + "], seed " + seed);
            }
            // the captured max norm 2 with the sum of squares the replay found in memory
            assertEquals(2f / (10f + 1e-6f), floatsOf(dev, clip)[0], 0f);
            DeviceCounters d = dev.counters().minus(before);
            assertEquals(0, d.launches());
            assertEquals(2, d.graphLaunches());
            assertThrows(IllegalStateException.class, g::launch, "a closed graph");
        }
    }

    @Test
    void capturingRefusesHostRoundTripsAndLeavesTheDeviceUsable() {
        EmuDevice dev = new EmuDevice();
        try (Arena arena = Arena.ofShared()) {  // shared: another thread uploads
            Tensor t = dev.allocate(arena, DType.F32, 4);
            MemorySegment host = arena.allocate(16);
            List<Consumer<EmuDevice>> refused = List.of(d -> d.allocate(arena, DType.F32, 4), d -> d.upload(t, host),
                    d -> d.download(host, t), EmuDevice::synchronize);
            for (Consumer<EmuDevice> call : refused) {
                var e = assertThrows(IllegalStateException.class, () -> dev.captureGraph(() -> call.accept(dev)));
                assertTrue(e.getMessage().contains("while a graph is being captured"), e.getMessage());
            }
            var nested = assertThrows(IllegalStateException.class,
                    () -> dev.captureGraph(() -> dev.captureGraph(() -> dev.zero(t))));
            assertTrue(nested.getMessage().contains("already being captured"), nested.getMessage());
            // another thread is not capturing: its calls run as usual (CUDA's thread-local capture mode)
            Tensor other = dev.allocate(arena, DType.F32, 4);
            try (Backend.Graph g = dev.captureGraph(() -> {
                Thread th = new Thread(() -> dev.upload(other, MemorySegment.ofArray(new float[] {1, 2, 3, 4})));
                th.start();
                try {
                    th.join();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                dev.copy(t, other);
            })) {
                assertArrayEquals(new float[4], floatsOf(dev, t), "the copy waits for the launch");
                g.launch();
            }
            assertArrayEquals(new float[] {1, 2, 3, 4}, floatsOf(dev, t));
        }
    }

    /**
     * A replay runs its launches like any launch: on the device's workers (configured again after another
     * device's launch), from whichever thread launches the graph, and under the sanitizer, which judges
     * what the replay finds in memory: a captured copy passes on whether its source was written.
     */
    @Test
    void aReplayRunsOnTheWorkersAndUnderTheSanitizer() throws Exception {
        assumeTrue(EmuDevice.sanitizer(), "the emulation's sanitizer is off");
        long seed = TestSeeds.next();
        EmuDevice dev = new EmuDevice(4), other = new EmuDevice(1);
        int n = 4000, threads = 128, blocks = (n + threads - 1) / threads;
        float[] v = Numerics.normal(new Random(seed), n, 1f);
        try (Arena arena = Arena.ofShared()) {  // shared: the replays run on other threads
            Tensor src = dev.allocateUninitialized(arena, DType.F32, n), mid = dev.allocateUninitialized(arena, DType.F32, n);
            Tensor out = dev.allocate(arena, DType.F32, n), a = dev.allocateUninitialized(arena, DType.F32, 4, 4);
            Backend.Graph copyThenRead = dev.captureGraph(() -> {
                dev.copy(mid, src);
                dev.launch("selftest_uninit_global", Dim3.of(blocks), Dim3.of(threads), 0, out, mid, n);
            });
            Backend.Graph gemm = dev.captureGraph(() -> dev.gemm(false, false, 4, 4, 4, 1f, a, 4, a, 4, 0f, out, 4));
            var early = assertThrows(IllegalStateException.class, () -> onAnotherThread(copyThenRead::launch));
            assertTrue(early.getMessage().startsWith("kernel selftest_uninit_global: ")
                    && early.getMessage().contains("read of uninitialised device memory"), early.getMessage());
            var gemmEarly = assertThrows(IllegalStateException.class, gemm::launch);
            assertTrue(gemmEarly.getMessage().contains("gemm reads uninitialised device memory: element (0, 0) of A"),
                    gemmEarly.getMessage());
            dev.upload(src, MemorySegment.ofArray(v));
            dev.zero(a);
            other.launch("selftest_uninit_global", Dim3.of(1), Dim3.of(1), 0, out, src, 1);  // one worker now
            onAnotherThread(copyThenRead::launch);
            assertArrayEquals(v, floatsOf(dev, out), "seed " + seed);
            assertTrue(EmuDevice.workerThreads() >= dev.workers(), "workers: " + EmuDevice.workerThreads());
            gemm.launch();
            assertArrayEquals(new float[16], java.util.Arrays.copyOf(floatsOf(dev, out), 16));
            copyThenRead.close();
            gemm.close();
        }
    }

    /** Runs {@code r} on a new thread and rethrows what it threw. */
    private static void onAnotherThread(Runnable r) throws InterruptedException {
        AtomicReference<RuntimeException> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                r.run();
            } catch (RuntimeException e) {
                thrown.set(e);
            }
        });
        t.start();
        t.join();
        if (thrown.get() != null) throw thrown.get();
    }

    private static Tensor floats(EmuDevice dev, Arena arena, float[] v) {
        Tensor t = dev.allocate(arena, DType.F32, v.length);
        dev.upload(t, MemorySegment.ofArray(v));
        return t;
    }

    private static float[] floatsOf(EmuDevice dev, Tensor t) {
        float[] out = new float[(int) t.numel()];
        dev.download(MemorySegment.ofArray(out), t);
        return out;
    }
}
