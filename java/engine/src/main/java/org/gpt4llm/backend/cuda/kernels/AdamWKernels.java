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
        if (clipFactor != null) numel(dtype(clipFactor, DType.F32, "adamw clip factor"), 1, "adamw clip factor");
        if (step < 1) throw new IllegalArgumentException("adamw step counts from 1, got " + step);
        if (n == 0) return;
        // the step's scalars in fp64, as PyTorch computes them in Python, then rounded to fp32
        double bc1 = 1.0 - Math.pow(hp.beta1(), step), bc2 = 1.0 - Math.pow(hp.beta2(), step);
        float decay = (float) (1.0 - (double) lr * hp.weightDecay());
        float stepSize = (float) (lr / bc1);
        float invBc2s = (float) (1.0 / Math.sqrt(bc2));
        int grid = Math.min(MAX_GRID, KernelArgs.ceilDiv(n, BLOCK));
        d.launch("adamw_step", Dim3.of(grid), Dim3.of(BLOCK), 0, param, master, grad, m, v, n, hp.beta1(), hp.beta2(),
                hp.eps(), decay, stepSize, invBc2s, gradScale, KernelArgs.orNull(clipFactor));
    }
}
