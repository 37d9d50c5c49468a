package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/** Launches kernels/adamw.cu: one fused AdamW step over fp32 master weights with a bf16 working copy. */
public final class AdamWKernels {
    private static final int BLOCK = 256, MAX_GRID = 8192;

    private AdamWKernels() {}

    /**
     * One step (counting from 1) of PyTorch's AdamW: {@code master}, {@code m}, {@code v} (F32) are
     * updated in place and {@code param} (BF16, the weights the model computes with) receives the
     * new master weights rounded to bf16. The gradient (F32) is multiplied by {@code gradScale} and,
     * when {@code clipFactor} (F32 [1] on the device, e.g. from
     * {@link NormClipKernels#clipFactor}) is not null, by its value read on the device.
     */
    public static void adamw(Device d, Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v,
                             Backend.AdamW hp, float lr, int step, float gradScale, Tensor clipFactor) {
        long n = checkSlots(param, master, grad, m, v);
        if (clipFactor != null) numel(dtype(clipFactor, DType.F32, "adamw clip factor"), 1, "adamw clip factor");
        if (step < 1) throw new IllegalArgumentException("adamw step counts from 1, got " + step);
        if (n == 0) return;
        d.launch("adamw_step", grid(n), Dim3.of(BLOCK), 0, param, master, grad, m, v, n, hp.beta1(), hp.beta2(),
                hp.eps(), hp.decay(lr), hp.stepSize(lr, step), hp.invBc2s(step), gradScale, KernelArgs.orNull(clipFactor));
    }

    /**
     * The same update with the step's scalars read on the device (F32 [1] each, set once per step, see
     * {@link org.gpt4llm.backend.StepScalars}): {@code decay} = 1 - lr * weight decay, {@code stepSize}
     * = lr / (1 - beta1^step), {@code invBc2s} = 1 / sqrt(1 - beta2^step) and the clip factor; the
     * betas and eps of {@code hp} are passed as they are. A launch captured into a CUDA graph replays
     * with each step's values; a clip factor that is not finite skips the update.
     */
    public static void adamw(Device d, Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, Backend.AdamW hp,
                             Tensor decay, Tensor stepSize, Tensor invBc2s, Tensor clipFactor) {
        long n = checkSlots(param, master, grad, m, v);
        for (Tensor s : new Tensor[] {decay, stepSize, invBc2s, clipFactor}) numel(dtype(s, DType.F32, "adamw step scalar"), 1, "adamw step scalar");
        if (n == 0) return;
        d.launch("adamw_step_device", grid(n), Dim3.of(BLOCK), 0, param, master, grad, m, v, n, hp.beta1(), hp.beta2(),
                hp.eps(), 1f, decay, stepSize, invBc2s, clipFactor);
    }

    private static Dim3 grid(long n) {
        return Dim3.of(Math.min(MAX_GRID, KernelArgs.ceilDiv(n, BLOCK)));
    }

    /** Checks the tensors of one parameter's update; returns its element count. */
    private static long checkSlots(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v) {
        dtype(param, DType.BF16, "adamw param");
        dtype(master, DType.F32, "adamw master");
        dtype(grad, DType.F32, "adamw grad");
        dtype(m, DType.F32, "adamw m");
        dtype(v, DType.F32, "adamw v");
        long n = param.numel();
        numel(master, n, "adamw master");
        numel(grad, n, "adamw grad");
        numel(m, n, "adamw m");
        numel(v, n, "adamw v");
        return n;
    }
}
