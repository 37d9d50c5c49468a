package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import java.util.List;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launches kernels/global_norm.cu: the global gradient norm and the clip factor, both kept on the
 * device for {@link AdamWKernels#adamw}.
 */
public final class NormClipKernels {
    private static final int BLOCK = 256, PER_THREAD = 8, MAX_GRID = 1024;

    private NormClipKernels() {}

    /** {@code sumsq} (F32 [1]) += Σ x² over {@code x} (F32); the caller zeroes sumsq first. */
    public static void sumOfSquares(Device d, Tensor sumsq, Tensor x) {
        numel(dtype(sumsq, DType.F32, "sum of squares"), 1, "sum of squares");
        dtype(x, DType.F32, "sum-of-squares input");
        long n = x.numel();
        if (n == 0) return;
        int grid = Math.min(MAX_GRID, KernelArgs.ceilDiv(n, (long) BLOCK * PER_THREAD));
        d.launch("global_norm_sumsq", Dim3.of(grid), Dim3.of(BLOCK), 0, sumsq, x, n);
    }

    /** {@code sumsq} = Σ over all of {@code tensors} of Σ x²: zeroes it, then accumulates each. */
    public static void sumOfSquares(Device d, Tensor sumsq, List<Tensor> tensors) {
        d.zero(sumsq);
        for (Tensor t : tensors) sumOfSquares(d, sumsq, t);
    }

    /**
     * {@code factor} (F32 [1]) = min(1, maxNorm / (sqrt(sumsq) + 1e-6)), torch's clip_grad_norm_
     * coefficient; 1 when {@code maxNorm <= 0} (no clipping).
     */
    public static void clipFactor(Device d, Tensor factor, Tensor sumsq, float maxNorm) {
        numel(dtype(factor, DType.F32, "clip factor"), 1, "clip factor");
        numel(dtype(sumsq, DType.F32, "sum of squares"), 1, "sum of squares");
        d.launch("clip_factor", Dim3.of(1), Dim3.of(1), 0, factor, sumsq, maxNorm);
    }
}
