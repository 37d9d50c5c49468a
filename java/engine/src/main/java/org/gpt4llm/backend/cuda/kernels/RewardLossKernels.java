package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launches kernels/reward_loss.cu: the pairwise reward-model loss over all score-ordered pairs of
 * each group of responses (K responses give up to K(K-1)/2 pairs; equal scores give none).
 */
public final class RewardLossKernels {
    private static final int BLOCK = 256;

    private RewardLossKernels() {}

    /**
     * {@code loss} (F32 [1]) = mean over pairs (i, j) of one group with gold_i > gold_j of
     * {@code -log σ(r_i - r_j - margin) + centerCoef (r_i + r_j)²}, and {@code dr} (F32 [M]) its
     * gradient with respect to the rewards {@code r} (F32 [M]); both overwritten. Group g holds
     * responses [offsets[g], offsets[g+1]) of the I32 [G+1] tensor {@code offsets}.
     *
     * <p>The pair count P that the mean divides by is counted on the host from {@code hostGold} and
     * {@code hostOffsets}, the same values as the device tensors {@code gold} and {@code offsets}.
     * Returns P; with P = 0 the loss and dr are zero.
     */
    public static int pairwiseLoss(Device d, Tensor loss, Tensor dr, Tensor r, Tensor gold, Tensor offsets,
                                   float[] hostGold, int[] hostOffsets, float margin, float centerCoef) {
        numel(dtype(loss, DType.F32, "reward loss"), 1, "reward loss");
        dtype(dr, DType.F32, "reward dr");
        dtype(r, DType.F32, "rewards");
        dtype(gold, DType.F32, "gold scores");
        dtype(offsets, DType.I32, "group offsets");
        int m = KernelArgs.toInt(r.numel(), "responses");
        numel(dr, m, "reward dr");
        numel(gold, m, "gold scores");
        numel(offsets, hostOffsets.length, "group offsets");
        int groups = hostOffsets.length - 1;
        int pairs = RewardPairs.count(hostGold, hostOffsets, m);
        float invPairs = pairs == 0 ? 0f : 1f / pairs;
        d.launch("reward_pairwise_loss", Dim3.of(1), Dim3.of(BLOCK), 0, loss, dr, r, gold, offsets, groups, margin,
                centerCoef, invPairs);
        return pairs;
    }

    /** As the other overload, downloading {@code gold} and {@code offsets} (M + G + 1 values) first. */
    public static int pairwiseLoss(Device d, Tensor loss, Tensor dr, Tensor r, Tensor gold, Tensor offsets,
                                   float margin, float centerCoef) {
        float[] hostGold = KernelArgs.downloadFloats(d, dtype(gold, DType.F32, "gold scores"));
        int[] hostOffsets = KernelArgs.downloadInts(d, dtype(offsets, DType.I32, "group offsets"));
        return pairwiseLoss(d, loss, dr, r, gold, offsets, hostGold, hostOffsets, margin, centerCoef);
    }
}
