package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/** Launches kernels/dpo_loss.cu: the DPO loss (sigmoid, IPO, hinge) over P preference pairs, forward and backward. */
public final class DpoLossKernels {
    private static final int BLOCK = 256;

    private DpoLossKernels() {}

    /**
     * {@code loss} (F32 [1]), {@code metrics} (F32 [4], TRL's {@link DpoLoss#METRICS}) and the gradients
     * {@code dc}, {@code dr} (F32 [P]) with respect to the policy's log-probabilities {@code pc}, {@code pr}
     * (F32 [P]), from the reference's {@code rc}, {@code rr} (F32 [P], or both null: zeros); all overwritten.
     */
    public static void dpoLoss(Device d, Tensor loss, Tensor metrics, Tensor dc, Tensor dr, Tensor pc, Tensor pr,
                               Tensor rc, Tensor rr, DpoLoss settings) {
        numel(dtype(loss, DType.F32, "DPO loss"), 1, "DPO loss");
        numel(dtype(metrics, DType.F32, "DPO metrics"), DpoLoss.METRICS.length, "DPO metrics");
        int p = KernelArgs.toInt(dtype(pc, DType.F32, "policy chosen log-probabilities").numel(), "DPO pairs");
        numel(dtype(pr, DType.F32, "policy rejected log-probabilities"), p, "policy rejected log-probabilities");
        numel(dtype(dc, DType.F32, "DPO d chosen"), p, "DPO d chosen");
        numel(dtype(dr, DType.F32, "DPO d rejected"), p, "DPO d rejected");
        if ((rc == null) != (rr == null)) {
            throw new IllegalArgumentException("DPO reference log-probabilities: give both or neither");
        }
        if (rc != null) {
            numel(dtype(rc, DType.F32, "reference chosen log-probabilities"), p, "reference chosen log-probabilities");
            numel(dtype(rr, DType.F32, "reference rejected log-probabilities"), p, "reference rejected log-probabilities");
        }
        d.launch("dpo_loss", Dim3.of(1), Dim3.of(BLOCK), 0, loss, metrics, dc, dr, pc, pr, KernelArgs.orNull(rc),
                KernelArgs.orNull(rr), p, settings.type().ordinal(), settings.beta(), settings.labelSmoothing(),
                settings.referenceFree() ? 1 : 0);
    }

    /** {@code logp} (F32 [B]) = -Σ_t {@code tokenLosses}[b*T + t] (F32 [B*T]): a block per sequence. */
    public static void sequenceLogProbs(Device d, Tensor logp, Tensor tokenLosses) {
        int b = KernelArgs.toInt(dtype(logp, DType.F32, "sequence log-probabilities").numel(), "sequences");
        int n = KernelArgs.toInt(dtype(tokenLosses, DType.F32, "token losses").numel(), "token losses");
        if (b == 0 || n % b != 0) throw new IllegalArgumentException(n + " token losses do not split into " + b + " sequences");
        int t = n / b;
        d.launch("dpo_sequence_logp", Dim3.of(b), Dim3.of(Math.min(BLOCK, Math.max(32, KernelArgs.ceilDiv(t, 32) * 32))), 0,
                logp, tokenLosses, t);
    }

    /**
     * A training step's use of {@link #dpoLoss}'s outputs for P pairs: {@code lossSum} (F32 [1]) += P loss,
     * {@code metricSums} (F32 [4]) += P metrics, {@code rowScales} (F32 [2P]) = -P dc · gradScale, then
     * -P dr · gradScale, with the gradient scale read from {@code gradScale} (F32 [1]) on the device.
     */
    public static void step(Device d, Tensor lossSum, Tensor metricSums, Tensor rowScales, Tensor loss, Tensor metrics,
                            Tensor dc, Tensor dr, Tensor gradScale) {
        int p = KernelArgs.toInt(dtype(dc, DType.F32, "DPO d chosen").numel(), "DPO pairs");
        numel(dtype(dr, DType.F32, "DPO d rejected"), p, "DPO d rejected");
        numel(dtype(rowScales, DType.F32, "DPO row scales"), 2L * p, "DPO row scales");
        numel(dtype(metricSums, DType.F32, "DPO metric sums"), DpoLoss.METRICS.length, "DPO metric sums");
        numel(dtype(metrics, DType.F32, "DPO metrics"), DpoLoss.METRICS.length, "DPO metrics");
        for (Tensor t : new Tensor[] {lossSum, loss, gradScale}) numel(dtype(t, DType.F32, "DPO step scalar"), 1, "DPO step scalar");
        d.launch("dpo_step", Dim3.of(1), Dim3.of(BLOCK), 0, lossSum, metricSums, rowScales, loss, metrics, dc, dr,
                gradScale, p);
    }
}
