package org.gpt4llm.reference;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The pairwise reward-model loss (TRL's RewardTrainer loss with margin and
 * center_rewards_coefficient over InstructGPT's K-choose-2 comparisons) written only with libtorch
 * operations, so autograd gives its gradient. It is the oracle of {@code kernels/reward_loss.cu} and
 * of every backend's {@code rewardPairwiseLoss}; it never calls our code.
 *
 * <pre>
 * pairs (i, j): i, j in one group [offsets[g], offsets[g+1]), gold[i] > gold[j]   (ties: no pair)
 * loss = mean over pairs of -logsigmoid(r_i - r_j - margin) + center (r_i + r_j)²
 *      = 0 (with a zero gradient) when there is no pair
 * </pre>
 */
public final class TorchPairwiseLoss {
    private TorchPairwiseLoss() {}

    /** {winners, losers}: the pairs of responses, each as the indices of the better and the worse. */
    public static int[][] pairs(float[] gold, int[] offsets) {
        List<Integer> win = new ArrayList<>(), lose = new ArrayList<>();
        for (int g = 0; g + 1 < offsets.length; g++) {
            for (int i = offsets[g]; i < offsets[g + 1]; i++) {
                for (int j = offsets[g]; j < offsets[g + 1]; j++) {
                    if (gold[i] > gold[j]) {
                        win.add(i);
                        lose.add(j);
                    }
                }
            }
        }
        return new int[][] {win.stream().mapToInt(Integer::intValue).toArray(),
                lose.stream().mapToInt(Integer::intValue).toArray()};
    }

    /**
     * The scalar loss of {@code rewards} (a 1-D libtorch tensor, typically a leaf requiring grad)
     * given the gold scores and group offsets; call {@code backward()} on it for the gradient.
     */
    public static Tensor loss(Tensor rewards, float[] gold, int[] offsets, float margin, float centerCoef) {
        int[][] p = pairs(gold, offsets);
        int n = p[0].length;
        if (n == 0) return rewards.sum().mul(new Scalar(0.0));
        Tensor rw = rewards.index_select(0, Torch.longs(p[0], n));
        Tensor rl = rewards.index_select(0, Torch.longs(p[1], n));
        Tensor bradleyTerry = torch.log_sigmoid(rw.sub(rl).sub(new Scalar(margin))).neg().mean();
        return bradleyTerry.add(rw.add(rl).square().mean().mul(new Scalar(centerCoef)));
    }
}
