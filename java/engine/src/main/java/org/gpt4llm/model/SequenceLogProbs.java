package org.gpt4llm.model;

import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.Tensor;

/**
 * Summed log-probabilities of each row's target tokens, as TRL's DPOTrainer sums them over a
 * response: {@code logp[b] = Σ_t log softmax(logits[b, t])[target[b, t]]} over the positions whose
 * target is not {@link TokenBatch#IGNORE} (prompt and padding positions carry IGNORE), and the backward
 * of {@code Σ_b w[b] logp[b]} into the logits. Both run on the backend's fused cross-entropy kernel:
 * its per-row losses are {@code -log p(target)} (0 where ignored), and its gradient
 * {@code (softmax - onehot) · scale} with {@code scale = -w[b]} over row b's positions is exactly
 * {@code w[b] · d logp[b] / d logits}.
 */
public final class SequenceLogProbs {
    private SequenceLogProbs() {}

    /**
     * logp [B] of the rows of {@code logits} [B*T, V] with {@code targets} (I32 [B*T], on the backend)
     * whose host copy is {@code hostTargets}; {@code losses} (F32 [B*T]) is scratch.
     */
    public static float[] forward(Backend be, Tensor losses, Tensor logits, Tensor targets, int[] hostTargets, int batch) {
        int t = rowLength(hostTargets, batch);
        be.crossEntropy(losses, null, logits, targets, TokenBatch.IGNORE, 0f);
        float[] perToken = be.download(losses);
        float[] out = new float[batch];
        for (int b = 0; b < batch; b++) {
            double s = 0;
            for (int i = b * t; i < (b + 1) * t; i++) s -= perToken[i];
            out[b] = (float) s;
        }
        return out;
    }

    /**
     * Writes {@code d(Σ_b weights[b] logp[b]) / d logits} into {@code dlogits} [B*T, V] (which may be
     * {@code logits} itself: the gradient then replaces them); arguments as {@link #forward}.
     */
    public static void backward(Backend be, Tensor dlogits, Tensor losses, Tensor logits, Tensor targets,
                                int[] hostTargets, float[] weights) {
        int batch = weights.length, t = rowLength(hostTargets, batch);
        for (int b = 0; b < batch; b++) {
            long from = (long) b * t;
            be.crossEntropy(losses.rows(from, t), dlogits.rows(from, t), logits.rows(from, t), targets.rows(from, t),
                    TokenBatch.IGNORE, -weights[b]);
        }
    }

    private static int rowLength(int[] hostTargets, int batch) {
        if (batch < 1 || hostTargets.length % batch != 0) {
            throw new IllegalArgumentException(hostTargets.length + " targets do not split into " + batch + " rows");
        }
        return hostTargets.length / batch;
    }
}
