package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launches kernels/step_scalars.cu: the loss sum and the clip factor of a training step, kept on the
 * device ({@link org.gpt4llm.backend.StepScalars}) so that the step reads nothing back until it ends.
 */
public final class StepKernels {
    private static final int MAX_BLOCK = 256;

    private StepKernels() {}

    /** {@code acc} (F32 [1]) += Σ {@code x} (F32), in one block without atomics: the same sum every run. */
    public static void lossSum(Device d, Tensor acc, Tensor x) {
        numel(dtype(acc, DType.F32, "loss sum"), 1, "loss sum");
        dtype(x, DType.F32, "losses");
        int n = KernelArgs.toInt(x.numel(), "loss rows");
        if (n == 0) return;
        int block = Math.min(MAX_BLOCK, Math.max(32, KernelArgs.ceilDiv(n, 32) * 32));
        d.launch("loss_sum", Dim3.of(1), Dim3.of(block), 0, acc, x, n);
    }

    /**
     * {@code clip} (F32 [1]) = min(1, maxNorm / (sqrt(sumsq) + 1e-6)) (1 when {@code maxNorm <= 0}), or
     * NaN when {@code sumsq} or {@code lossSum} is not finite, which makes
     * {@link AdamWKernels#adamw(Device, Tensor, Tensor, Tensor, Tensor, Tensor, org.gpt4llm.backend.Backend.AdamW,
     * Tensor, Tensor, Tensor, Tensor) the device update} skip the step.
     */
    public static void clipFactor(Device d, Tensor clip, Tensor sumsq, Tensor lossSum, float maxNorm) {
        for (Tensor t : new Tensor[] {clip, sumsq, lossSum}) numel(dtype(t, DType.F32, "step scalar"), 1, "step scalar");
        d.launch("step_clip_factor", Dim3.of(1), Dim3.of(1), 0, clip, sumsq, lossSum, maxNorm);
    }
}
