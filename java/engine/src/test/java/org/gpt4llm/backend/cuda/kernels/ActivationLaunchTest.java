package org.gpt4llm.backend.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The launchers of kernels/activations.cu refuse tensors of the wrong type or size, including the
 * dtype pairs the backend's convert never passes them. Values and the aligned and misaligned paths
 * are checked against libtorch on every backend by the activation, element-wise and conversion
 * contract tests.
 */
class ActivationLaunchTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.kernels.DeviceTensors#all")
    void launchersRefuseWrongTypesAndSizes(DeviceTensors on) {
        Device device = on.device();
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = device.allocate(arena, DType.BF16, 6), f = device.allocate(arena, DType.F32, 6);
            Tensor shorter = device.allocate(arena, DType.BF16, 5);
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.swigluForward(device, a, a, shorter));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.swigluBackward(device, a, f, a, a, a));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.reluForward(device, f, a));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.add(device, a, a, shorter));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.f32ToBf16(device, f, a));    // swapped
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.bf16ToF32(device, a, f));    // swapped
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.bf16ToF32(device, f, shorter));
            assertThrows(IllegalArgumentException.class, () -> ActivationKernels.scale(device, a, 2f));       // not F32
        }
    }
}
