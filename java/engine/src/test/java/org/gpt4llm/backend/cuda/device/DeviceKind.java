package org.gpt4llm.backend.cuda.device;

import java.util.List;
import java.util.stream.Stream;
import org.gpt4llm.testing.TargetSelection;

/**
 * A device the engine's CUDA tests run on: the emulation ({@code cuda-emu}) always, the GPU
 * ({@code cuda}) where its driver and cuBLAS load; only those {@code -Dgpt4llm.targets} names where
 * it is set ({@link TargetSelection}), so that bin/gpu-check runs them on the GPU alone.
 */
public enum DeviceKind {
    CUDA_EMU("cuda-emu"),
    CUDA("cuda");

    private final String label;
    private Device shared;

    DeviceKind(String label) {
        this.label = label;
    }

    /** The kinds this machine runs, as selected. */
    public static List<DeviceKind> present() {
        return TargetSelection.select(List.of(values()), DeviceKind::toString,
                k -> k != CUDA ? null : CudaLibraries.missing().orElse(null));
    }

    /** {@link #present()} as the arguments of a parameterized test. */
    public static Stream<DeviceKind> all() {
        return present().stream();
    }

    /** A new device of this kind, for the caller to close. */
    public Device open() {
        return this == CUDA ? CudaDevice.open(0) : new EmuDevice();
    }

    /** One device of this kind kept open for the JVM, shared by tests that only launch kernels on it. */
    public synchronized Device shared() {
        if (shared == null) shared = open();
        return shared;
    }

    @Override
    public String toString() {
        return label;
    }
}
