package org.gpt4llm.backend.cuda.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.gpt4llm.backend.cuda.kernels.ActivationKernels;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The copy stream ({@link Device.Stream#COPY}): ordered after the compute work by an event, a copy to
 * page-locked host memory and the zero fill behind it take what the compute stream wrote, and compute
 * work made to wait for the copy's event finds the memory zeroed; counted as asynchronous copies,
 * events and waits, never as a wait for the whole device.
 */
class CopyStreamTest {
    static java.util.stream.Stream<DeviceKind> devices() {
        return DeviceKind.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("devices")
    void aCopyBesideTheComputeWorkIsOrderedByEvents(DeviceKind kind) {
        Random rng = TestSeeds.random();
        float[] values = new float[4096];
        for (int i = 0; i < values.length; i++) values[i] = rng.nextFloat() * 2 - 1;
        try (Device dev = kind.open(); Arena arena = Arena.ofShared()) {
            Tensor t = dev.allocate(arena, DType.F32, values.length);
            Tensor host = dev.allocateHost(arena, DType.F32, values.length);
            dev.upload(t, MemorySegment.ofArray(values));
            DeviceCounters start = dev.counters();
            ActivationKernels.scale(dev, t, 2f);  // compute work the copy must come after
            try (Device.Event computed = dev.record(Device.Stream.COMPUTE)) {
                dev.waitFor(Device.Stream.COPY, computed);
            }
            dev.downloadBehind(host.data(), t);
            dev.zeroBehind(t);
            try (Device.Event copied = dev.record(Device.Stream.COPY)) {
                dev.waitFor(Device.Stream.COMPUTE, copied);
                ActivationKernels.scale(dev, t, 3f);  // compute work after the zero fill: 0 stays 0
                copied.synchronize();
            }
            DeviceCounters d = dev.counters().minus(start);
            float[] doubled = new float[values.length];
            for (int i = 0; i < values.length; i++) doubled[i] = 2 * values[i];
            assertArrayEquals(doubled, host.toFloatArray(), kind + ": the copy took what the compute stream wrote");
            assertEquals(0, d.synchronizations(), kind + ": " + d);
            assertEquals(0, d.downloads(), kind + ": " + d);
            assertEquals(1, d.asyncDownloads(), kind + ": " + d);
            assertEquals(4L * values.length, d.asyncDownloadBytes(), kind + ": " + d);
            assertEquals(2, d.eventRecords(), kind + ": " + d);
            assertEquals(2, d.streamWaits(), kind + ": " + d);
            assertEquals(1, d.eventWaits(), kind + ": " + d);
            assertEquals(1, d.memsets(), kind + ": " + d);
            float[] after = new float[values.length];
            dev.download(MemorySegment.ofArray(after), t);
            assertArrayEquals(new float[values.length], after, kind + ": zeroed behind the copy, before the compute work after it");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("devices")
    void theCopyStreamIsRefusedWhileCapturing(DeviceKind kind) {
        try (Device dev = kind.open(); Arena arena = Arena.ofShared()) {
            Tensor t = dev.allocate(arena, DType.F32, 64);
            Tensor host = dev.allocateHost(arena, DType.F32, 64);
            ActivationKernels.scale(dev, t, 1f);  // loads the kernel before the capture
            assertThrows(IllegalStateException.class, () -> dev.captureGraph(() -> dev.record(Device.Stream.COMPUTE)).close());
            assertThrows(IllegalStateException.class, () -> dev.captureGraph(() -> dev.downloadBehind(host.data(), t)).close());
        }
    }
}
