package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.toInt;

import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/** Launches kernels/cross_entropy.cu: fused softmax cross-entropy with ignore_index. */
public final class CrossEntropyKernels {
    private CrossEntropyKernels() {}

    /**
     * Per-row losses F32 [N] of logits BF16 [N, V] against targets I32 [N]; when {@code dlogits}
     * (BF16 [N, V]) is not null it receives {@code (softmax - onehot) * gradScale}, and it may be
     * {@code logits} itself. Ignored rows get a zero loss and a zero gradient row.
     *
     * <p>Returns the number of targets that are not {@code ignoreIndex}. That count, and the check
     * that every other target lies in [0, V), are done on the host: this overload downloads the
     * targets (N ints, a synchronising copy), so prefer the one taking them when the caller still
     * holds the values it uploaded.
     *
     * @throws IllegalArgumentException naming the first row whose target is outside the vocabulary;
     *     nothing is launched then
     */
    public static int crossEntropy(Device d, Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                   int ignoreIndex, float gradScale) {
        dtype(targets, DType.I32, "cross-entropy targets");
        return crossEntropy(d, losses, dlogits, logits, targets, KernelArgs.downloadInts(d, targets), ignoreIndex,
                gradScale);
    }

    /**
     * As {@link #crossEntropy(Device, Tensor, Tensor, Tensor, Tensor, int, float)}, with
     * {@code hostTargets} the same values as the device tensor {@code targets}, already on the host
     * (no download).
     */
    public static int crossEntropy(Device d, Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                   int[] hostTargets, int ignoreIndex, float gradScale) {
        return crossEntropy(d, losses, dlogits, logits, targets, hostTargets, ignoreIndex, gradScale, null);
    }

    /**
     * As the overload above, with the gradient scale read on the device from {@code deviceGradScale}
     * (F32 [1]) instead of {@code gradScale} when it is not null: a launch captured into a CUDA graph
     * then replays with the scale of each step.
     */
    public static int crossEntropy(Device d, Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                   int[] hostTargets, int ignoreIndex, float gradScale, Tensor deviceGradScale) {
        return crossEntropy(d, losses, dlogits, logits, targets, hostTargets, ignoreIndex, gradScale, deviceGradScale, null);
    }

    /**
     * As the overload above, with gradient row n further scaled by {@code rowScales[n / (N / R)]} (F32 [R] on
     * the device, R dividing N) when it is not null: a weight per sequence of N / R rows, read on the device.
     */
    public static int crossEntropy(Device d, Tensor losses, Tensor dlogits, Tensor logits, Tensor targets,
                                   int[] hostTargets, int ignoreIndex, float gradScale, Tensor deviceGradScale,
                                   Tensor rowScales) {
        dtype(losses, DType.F32, "cross-entropy losses");
        if (deviceGradScale != null) KernelArgs.numel(dtype(deviceGradScale, DType.F32, "cross-entropy gradient scale"), 1,
                "cross-entropy gradient scale");
        dtype(logits, DType.BF16, "cross-entropy logits");
        dtype(targets, DType.I32, "cross-entropy targets");
        if (dlogits != null) dtype(dlogits, DType.BF16, "cross-entropy dlogits");
        int n = toInt(targets.numel(), "cross-entropy rows");
        if (hostTargets.length != n) {
            throw new IllegalArgumentException("cross-entropy: " + hostTargets.length + " host targets for " + targets);
        }
        int v = toInt(logits.numel() / Math.max(1, n), "vocabulary");
        if (logits.numel() != (long) n * v || losses.numel() != n) {
            throw new IllegalArgumentException("cross-entropy: logits " + logits + ", losses " + losses
                    + " for " + n + " targets");
        }
        if (dlogits != null && dlogits.numel() != logits.numel()) {
            throw new IllegalArgumentException("cross-entropy: dlogits " + dlogits + " for logits " + logits);
        }
        int scaled = rowScales == null ? 0 : toInt(dtype(rowScales, DType.F32, "cross-entropy row scales").numel(),
                "cross-entropy row scales");
        if (rowScales != null && (scaled == 0 || n % scaled != 0)) {
            throw new IllegalArgumentException("cross-entropy: " + scaled + " row scales for " + n + " rows");
        }
        int counted = 0;
        for (int row = 0; row < n; row++) {
            int t = hostTargets[row];
            if (t == ignoreIndex) continue;
            if (t < 0 || t >= v) {
                throw new IllegalArgumentException("target " + t + " at row " + row + " is outside the vocabulary of " + v);
            }
            counted++;
        }
        if (n == 0) return 0;
        // enough warps for 8 elements per thread on small vocabularies, 512 threads from V = 4096 on
        int block = Math.min(512, Math.max(32, KernelArgs.ceilDiv(KernelArgs.ceilDiv(v, 8), 32) * 32));
        d.launch("cross_entropy_fwd_bwd", Dim3.of(n), Dim3.of(block), 0, losses, KernelArgs.orNull(dlogits), logits,
                targets, n, v, ignoreIndex, gradScale, KernelArgs.orNull(deviceGradScale), KernelArgs.orNull(rowScales),
                scaled == 0 ? 1 : n / scaled);
        return counted;
    }
}
