package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;

import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launchers of kernels/rope.cu: x [N, heads * headDim] BF16 rotated in place (HF rotate_half),
 * positions [N] I32. The backward applies the inverse rotation to the gradient, in place.
 */
public final class RopeKernels {
    private RopeKernels() {}

    public static void ropeForward(Device d, Tensor x, Tensor positions, int heads, int headDim, float theta) {
        launch(d, "rope_forward", "rope forward", x, positions, heads, headDim, theta);
    }

    public static void ropeBackward(Device d, Tensor dx, Tensor positions, int heads, int headDim, float theta) {
        launch(d, "rope_backward", "rope backward", dx, positions, heads, headDim, theta);
    }

    private static void launch(Device d, String kernel, String op, Tensor x, Tensor positions, int heads, int headDim,
                               float theta) {
        dtype(op, "x", x, DType.BF16);
        dtype(op, "positions", positions, DType.I32);
        if (heads < 1 || headDim < 2 || headDim % 2 != 0) {
            throw new IllegalArgumentException(op + ": needs heads >= 1 and an even head dimension, got " + heads
                    + " heads of " + headDim);
        }
        int n = KernelArgs.toInt(op, "N", positions.numel());
        if (x.numel() != (long) n * heads * headDim) {
            throw new IllegalArgumentException(op + ": " + x + " is not " + n + " rows of " + heads + "x" + headDim
                    + " for positions " + positions);
        }
        if (!(theta > 0)) throw new IllegalArgumentException(op + ": theta must be positive, got " + theta);
        if (n == 0) return;
        // the kernel moves 8 pairs per access when a half-head is a whole number of 16-byte packs
        long pairs = (long) heads * (headDim / 2);
        int smem = KernelArgs.sharedFloats(op, headDim, "the head dimension is at most 12288");
        d.launch(kernel, Dim3.of(n), KernelArgs.rowBlock(pairs, headDim / 2 % KernelArgs.PACK == 0), smem,
                x, positions, n, heads, headDim, theta);
    }
}
