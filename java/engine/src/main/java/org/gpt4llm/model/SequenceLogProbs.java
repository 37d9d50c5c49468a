package org.gpt4llm.model;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Summed log-probabilities of each row's target tokens, as TRL's DPOTrainer sums them over a
 * response: {@code logp[b] = Σ_t log softmax(logits[b, t])[target[b, t]]} over the positions whose
 * target is not {@link TokenBatch#IGNORE} (prompt and padding positions carry IGNORE), and the backward
 * of {@code Σ_b w[b] logp[b]} into the logits. Both run on the backend: the fused cross-entropy kernel
 * writes the per-token losses {@code -log p(target)} (0 where ignored), which
 * {@link Backend#sequenceLogProbs} sums per row; its gradient {@code (softmax - onehot) · s_b} with the
 * row scale {@code s_b = -w[b]} ({@link Backend#crossEntropy(Tensor, Tensor, Tensor, Tensor, int[], int, Tensor)})
 * is exactly {@code w[b] · d logp[b] / d logits}. The device forms read nothing back; the host forms
 * download the B sums, or upload the B weights.
 */
public final class SequenceLogProbs {
    private SequenceLogProbs() {}

    /**
     * logp [B] of the rows of {@code logits} [B*T, V] with {@code targets} (I32 [B*T], on the backend)
     * whose host copy is {@code hostTargets}; {@code losses} (F32 [B*T]) is scratch. One download of B floats.
     */
    public static float[] forward(Backend be, Tensor losses, Tensor logits, Tensor targets, int[] hostTargets, int batch) {
        rowLength(hostTargets, batch);
        try (Arena arena = Arena.ofConfined()) {
            Tensor logp = be.allocate(arena, DType.F32, batch);
            forward(be, logp, losses, logits, targets, hostTargets);
            return be.download(logp);
        }
    }

    /** The device form of {@link #forward(Backend, Tensor, Tensor, Tensor, int[], int)}: into {@code logp} (F32 [B]). */
    public static void forward(Backend be, Tensor logp, Tensor losses, Tensor logits, Tensor targets, int[] hostTargets) {
        rowLength(hostTargets, Math.toIntExact(logp.numel()));
        be.crossEntropy(losses, null, logits, targets, hostTargets, TokenBatch.IGNORE, (StepScalars) null);
        be.sequenceLogProbs(logp, losses);
    }

    /**
     * Writes {@code d(Σ_b weights[b] logp[b]) / d logits} into {@code dlogits} [B*T, V] (which may be
     * {@code logits} itself: the gradient then replaces them); arguments as {@link #forward}.
     */
    public static void backward(Backend be, Tensor dlogits, Tensor losses, Tensor logits, Tensor targets,
                                int[] hostTargets, float[] weights) {
        float[] scales = new float[weights.length];
        for (int b = 0; b < scales.length; b++) scales[b] = -weights[b];
        try (Arena arena = Arena.ofConfined(); Arena host = Arena.ofConfined()) {
            Tensor s = be.allocate(arena, DType.F32, scales.length);
            be.upload(s, Tensor.of(host, scales, scales.length));
            backward(be, dlogits, losses, logits, targets, hostTargets, s);
        }
    }

    /**
     * The device form: {@code rowScales} (F32 [B], on the backend) are {@code -weights}, the cross-entropy's
     * scale of each row (as {@link Backend#dpoStep} writes them).
     */
    public static void backward(Backend be, Tensor dlogits, Tensor losses, Tensor logits, Tensor targets,
                                int[] hostTargets, Tensor rowScales) {
        rowLength(hostTargets, Math.toIntExact(rowScales.numel()));
        be.crossEntropy(losses, dlogits, logits, targets, hostTargets, TokenBatch.IGNORE, rowScales);
    }

    private static int rowLength(int[] hostTargets, int batch) {
        if (batch < 1 || hostTargets.length % batch != 0) {
            throw new IllegalArgumentException(hostTargets.length + " targets do not split into " + batch + " rows");
        }
        return hostTargets.length / batch;
    }
}
