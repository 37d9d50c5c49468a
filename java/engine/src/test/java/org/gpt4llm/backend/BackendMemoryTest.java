package org.gpt4llm.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.memory.Footprint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every backend counts what it allocates by the category its owner names, gives it back on close, keeps the peak. */
class BackendMemoryTest {
    static Stream<String> backends() {
        return Stream.concat(Stream.of("cpu"), DeviceKind.all().map(DeviceKind::toString));
    }

    private static Backend open(String name) {
        return name.equals("cpu") ? new CpuBackend(2)
                : new CudaBackend(DeviceKind.valueOf(name.toUpperCase().replace('-', '_')).open());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void allocationsAreCountedByCategoryUntilTheirArenaCloses(String name) {
        Random rng = TestSeeds.random();
        try (Backend be = open(name)) {
            Footprint before = be.memory().live();  // a GPU backend keeps a little scratch of its own
            long rows = 1 + rng.nextInt(300), cols = 1 + rng.nextInt(300);
            long weights, moments, workspace;
            try (Arena arena = Arena.ofShared()) {
                Tensor w = be.allocate(arena, MemoryCategory.WEIGHTS, be.weightType(), rows, cols);
                Tensor m = be.allocate(arena, MemoryCategory.MOMENTS, DType.F32, rows, cols);
                Tensor s = be.allocate(arena, DType.F32, cols);  // no category: a temporary buffer
                weights = w.byteSize();
                moments = m.byteSize();
                workspace = s.byteSize();
                assertEquals(rows * cols * be.weightType().bytes(), weights);
                Footprint live = be.memory().live();
                assertEquals(before.device(MemoryCategory.WEIGHTS) + weights, live.device(MemoryCategory.WEIGHTS));
                assertEquals(before.device(MemoryCategory.MOMENTS) + moments, live.device(MemoryCategory.MOMENTS));
                assertEquals(before.device(MemoryCategory.WORKSPACE) + workspace, live.device(MemoryCategory.WORKSPACE));
                assertEquals(before.deviceBytes() + weights + moments + workspace, live.deviceBytes());
            }
            assertEquals(before, be.memory().live(), "closing the arena gives every byte back");
            long peak = before.deviceBytes() + weights + moments + workspace;
            assertEquals(peak, be.memory().peakDeviceBytes());
            try (Arena arena = Arena.ofShared()) {
                be.allocate(arena, MemoryCategory.ACTIVATIONS, DType.F32, 1);
            }
            assertEquals(peak, be.memory().peakDeviceBytes(), "a smaller allocation later leaves the mark");
            assertEquals(before.device(MemoryCategory.MOMENTS) + moments, be.memory().peak().device(MemoryCategory.MOMENTS));
            assertEquals(0, be.memory().peak().device(MemoryCategory.ACTIVATIONS));
            assertEquals(0, be.memory().peakHostBytes(), "nothing of these backends lives on the host");
        }
    }
}
