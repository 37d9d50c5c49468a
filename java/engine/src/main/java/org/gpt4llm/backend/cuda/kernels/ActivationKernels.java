package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.sameSize;

import java.util.Arrays;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launchers of kernels/activations.cu, element-wise over tensors of equal element count (shapes
 * are not compared, only sizes). BF16 unless named otherwise; every output is overwritten and may
 * be the same tensor as an input.
 */
public final class ActivationKernels {
    private ActivationKernels() {}

    /** h = silu(gate) * up. */
    public static void swigluForward(Device d, Tensor h, Tensor gate, Tensor up) {
        launch(d, "swiglu_forward", "swiglu forward", h, new String[] {"h", "gate", "up"}, h, gate, up);
    }

    /** dgate = dh * up * silu'(gate), dup = dh * silu(gate). */
    public static void swigluBackward(Device d, Tensor dgate, Tensor dup, Tensor dh, Tensor gate, Tensor up) {
        launch(d, "swiglu_backward", "swiglu backward", dh, new String[] {"dgate", "dup", "dh", "gate", "up"},
                dgate, dup, dh, gate, up);
    }

    /** y = max(x, 0). */
    public static void reluForward(Device d, Tensor y, Tensor x) {
        launch(d, "relu_forward", "relu forward", x, new String[] {"y", "x"}, y, x);
    }

    /** dx = dy where x > 0, else 0. */
    public static void reluBackward(Device d, Tensor dx, Tensor dy, Tensor x) {
        launch(d, "relu_backward", "relu backward", x, new String[] {"dx", "dy", "x"}, dx, dy, x);
    }

    /** y = a + b. */
    public static void add(Device d, Tensor y, Tensor a, Tensor b) {
        launch(d, "add_bf16", "add", y, new String[] {"y", "a", "b"}, y, a, b);
    }

    /** dst (BF16) = src (F32), rounded to nearest even. */
    public static void f32ToBf16(Device d, Tensor dst, Tensor src) {
        String op = "f32 to bf16";
        dtype(op, "dst", dst, DType.BF16);
        dtype(op, "src", src, DType.F32);
        sameSize(op, "dst", dst, src);
        elementwise(d, "f32_to_bf16", src.numel(), dst, src);
    }

    /** dst (F32) = src (BF16). */
    public static void bf16ToF32(Device d, Tensor dst, Tensor src) {
        String op = "bf16 to f32";
        dtype(op, "dst", dst, DType.F32);
        dtype(op, "src", src, DType.BF16);
        sameSize(op, "dst", dst, src);
        elementwise(d, "bf16_to_f32", src.numel(), dst, src);
    }

    /** x (F32) *= s. */
    public static void scale(Device d, Tensor x, float s) {
        dtype("scale", "x", x, DType.F32);
        if (x.numel() == 0) return;
        d.launch("scale_f32", KernelArgs.elementwiseGrid(x.numel()), KernelArgs.elementwiseBlock(), 0, x, x.numel(), s);
    }

    /** Checks that every tensor is BF16 with the element count of {@code like}, then launches over it. */
    private static void launch(Device d, String kernel, String op, Tensor like, String[] names, Tensor... tensors) {
        for (int i = 0; i < tensors.length; i++) {
            dtype(op, names[i], tensors[i], DType.BF16);
            sameSize(op, names[i], tensors[i], like);
        }
        elementwise(d, kernel, like.numel(), (Object[]) tensors);
    }

    /** Launches a kernel (tensors..., long n) over n elements. */
    private static void elementwise(Device d, String kernel, long n, Object... tensors) {
        if (n == 0) return;
        Object[] args = Arrays.copyOf(tensors, tensors.length + 1, Object[].class);
        args[tensors.length] = n;
        d.launch(kernel, KernelArgs.elementwiseGrid(n), KernelArgs.elementwiseBlock(), 0, args);
    }
}
