package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.sameSize;

import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launchers of kernels/rmsnorm.cu and kernels/layernorm.cu: x, y, dy, dx [N, C] BF16 (any shape
 * whose last dimension is C), weight and bias [C] BF16, rstd and mean [N] F32, dweight and dbias
 * [C] F32. Forward outputs are overwritten; dx, dweight and dbias accumulate.
 */
public final class NormKernels {
    private NormKernels() {}

    /**
     * Blocks of a backward launch (each walks N / blocks rows and adds its dweight partial with C
     * atomics): about four per SM of a large GPU, fewer when there are fewer rows.
     */
    static final int BACKWARD_BLOCKS = 512;

    /** rstd[n] = 1 / sqrt(mean(x[n]^2) + eps), y = x * rstd * weight. */
    public static void rmsnormForward(Device d, Tensor y, Tensor rstd, Tensor x, Tensor weight, float eps) {
        String op = "rmsnorm forward";
        int n = rows(op, x, weight), c = (int) weight.numel();
        dtype(op, "y", y, DType.BF16);
        sameSize(op, "y", y, x);
        stats(op, "rstd", rstd, n);
        if (n == 0) return;
        d.launch("rmsnorm_forward", Dim3.of(n), KernelArgs.rowBlock(c), 0, y, rstd, x, weight, n, c, eps);
    }

    /** dx += rstd*weight*dy - x*rstd^3/C * sum(weight*dy*x), dweight += sum over rows of dy*x*rstd. */
    public static void rmsnormBackward(Device d, Tensor dx, Tensor dweight, Tensor dy, Tensor x, Tensor weight,
                                       Tensor rstd) {
        rmsnormBackward(d, dx, dweight, dy, x, weight, rstd, BACKWARD_BLOCKS);
    }

    /** As above on at most {@code blocks} blocks; with one block dweight is bit-reproducible. */
    public static void rmsnormBackward(Device d, Tensor dx, Tensor dweight, Tensor dy, Tensor x, Tensor weight,
                                       Tensor rstd, int blocks) {
        String op = "rmsnorm backward";
        int n = rows(op, x, weight), c = (int) weight.numel();
        gradients(op, dx, dy, x, weight, dweight);
        stats(op, "rstd", rstd, n);
        int smem = KernelArgs.sharedFloats(op, c, "C is at most 12288");
        if (n == 0) return;
        d.launch("rmsnorm_backward", backwardGrid(op, n, blocks), KernelArgs.rowBlock(c), smem,
                dx, dweight, dy, x, weight, rstd, n, c);
    }

    /** mean, rstd of each row (biased variance, eps inside the root), y = (x - mean) * rstd * weight + bias. */
    public static void layernormForward(Device d, Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor weight,
                                        Tensor bias, float eps) {
        String op = "layernorm forward";
        int n = rows(op, x, weight), c = (int) weight.numel();
        dtype(op, "y", y, DType.BF16);
        sameSize(op, "y", y, x);
        dtype(op, "bias", bias, DType.BF16);
        sameSize(op, "bias", bias, weight);
        stats(op, "mean", mean, n);
        stats(op, "rstd", rstd, n);
        if (n == 0) return;
        d.launch("layernorm_forward", Dim3.of(n), KernelArgs.rowBlock(c), 0, y, mean, rstd, x, weight, bias, n, c, eps);
    }

    /** dx += the LayerNorm input gradient, dweight += sum over rows of dy*xhat, dbias += sum over rows of dy. */
    public static void layernormBackward(Device d, Tensor dx, Tensor dweight, Tensor dbias, Tensor dy, Tensor x,
                                         Tensor weight, Tensor mean, Tensor rstd) {
        layernormBackward(d, dx, dweight, dbias, dy, x, weight, mean, rstd, BACKWARD_BLOCKS);
    }

    /** As above on at most {@code blocks} blocks; with one block dweight and dbias are bit-reproducible. */
    public static void layernormBackward(Device d, Tensor dx, Tensor dweight, Tensor dbias, Tensor dy, Tensor x,
                                         Tensor weight, Tensor mean, Tensor rstd, int blocks) {
        String op = "layernorm backward";
        int n = rows(op, x, weight), c = (int) weight.numel();
        gradients(op, dx, dy, x, weight, dweight);
        parameterGradient(op, "dbias", dbias, weight);
        stats(op, "mean", mean, n);
        stats(op, "rstd", rstd, n);
        int smem = KernelArgs.sharedFloats(op, 2L * c, "C is at most 6144");
        if (n == 0) return;
        d.launch("layernorm_backward", backwardGrid(op, n, blocks), KernelArgs.rowBlock(c), smem,
                dx, dweight, dbias, dy, x, weight, mean, rstd, n, c);
    }

    /** Checks x (BF16) and weight (BF16 [C]) and returns the number of rows N. */
    private static int rows(String op, Tensor x, Tensor weight) {
        dtype(op, "x", x, DType.BF16);
        dtype(op, "weight", weight, DType.BF16);
        KernelArgs.toInt(op, "C", weight.numel());
        return KernelArgs.rows(op, x, weight.numel());
    }

    /** Per-row statistics: F32 [N]. */
    private static void stats(String op, String what, Tensor t, int n) {
        dtype(op, what, t, DType.F32);
        if (t.numel() != n) throw new IllegalArgumentException(op + ": " + what + " " + t + " is not one value for each of " + n + " rows");
    }

    /** dx, dy BF16 shaped like x; dweight F32 shaped like weight. */
    private static void gradients(String op, Tensor dx, Tensor dy, Tensor x, Tensor weight, Tensor dweight) {
        dtype(op, "dx", dx, DType.BF16);
        sameSize(op, "dx", dx, x);
        dtype(op, "dy", dy, DType.BF16);
        sameSize(op, "dy", dy, x);
        parameterGradient(op, "dweight", dweight, weight);
    }

    private static void parameterGradient(String op, String what, Tensor grad, Tensor weight) {
        dtype(op, what, grad, DType.F32);
        sameSize(op, what, grad, weight);
    }

    private static Dim3 backwardGrid(String op, int n, int blocks) {
        if (blocks < 1) throw new IllegalArgumentException(op + ": block count must be positive, got " + blocks);
        return Dim3.of(Math.min(n, blocks));
    }
}
