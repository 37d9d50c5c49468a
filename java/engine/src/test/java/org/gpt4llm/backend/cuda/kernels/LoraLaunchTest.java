package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.EmuTensors.device;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The LoRA launchers' own refusals: ranks above what the kernels' tiles hold, and tensors of the
 * wrong type. Values against libtorch: the LoRA contract test, on every backend.
 */
class LoraLaunchTest {
    @Test
    void launchersRefuseRanksAboveTheTilesAndWrongTypes() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = device().allocate(arena, DType.BF16, 4, 8), y = device().allocate(arena, DType.BF16, 4, 6);
            Tensor t = device().allocate(arena, DType.F32, 4, 65);
            Tensor bigA = device().allocate(arena, DType.BF16, 65, 8), bigB = device().allocate(arena, DType.BF16, 6, 65);
            var e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, t, x, bigA, bigB, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("rank must be 1.." + LoraKernels.MAX_RANK), e.getMessage());
            Tensor a = device().allocate(arena, DType.BF16, 2, 8), b = device().allocate(arena, DType.BF16, 6, 3);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, t, x, a, b, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("does not match"), e.getMessage());
            Tensor b2 = device().allocate(arena, DType.BF16, 6, 2), t2 = device().allocate(arena, DType.F32, 4, 2);
            Tensor yf = device().allocate(arena, DType.F32, 4, 6);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), yf, t2, x, a, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora y must be BF16"), e.getMessage());
            Tensor af = device().allocate(arena, DType.F32, 2, 8);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, t2, x, af, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora A must be BF16"), e.getMessage());
            Tensor bt = device().allocate(arena, DType.BF16, 4, 2);
            e = assertThrows(IllegalArgumentException.class, () -> LoraKernels.forward(device(), y, bt, x, a, b2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora t must be F32"), e.getMessage());
            Tensor dA = device().allocate(arena, DType.F32, 2, 8), dB = device().allocate(arena, DType.BF16, 6, 2);
            e = assertThrows(IllegalArgumentException.class,
                    () -> LoraKernels.backward(device(), x, dA, dB, t2, y, x, a, b2, t2, 1f, 0f, 1));
            assertTrue(e.getMessage().contains("lora dB must be F32"), e.getMessage());
        }
    }
}
