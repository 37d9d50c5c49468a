package org.gpt4llm.reference;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * TRL DPOTrainer's {@code dpo_loss} written only with libtorch operations, so autograd gives its
 * gradient: the oracle of {@code kernels/dpo_loss.cu} and of every backend's {@code dpoLoss}; it never
 * calls our code.
 *
 * <pre>
 * logits = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)      (ref part 0 when reference_free)
 * sigmoid: -logsigmoid(β logits)(1 - ε) - logsigmoid(-β logits) ε
 * ipo:     (logits - 1/(2β))²
 * hinge:   relu(1 - β logits)
 * loss = mean over pairs;  chosen_rewards = β (policy_chosen - ref_chosen), rejected_rewards likewise
 * </pre>
 */
public final class TorchDpoLoss {
    private TorchDpoLoss() {}

    /** The per-pair losses (1-D tensors of one length); {@code type} is sigmoid, ipo or hinge. */
    public static Tensor losses(Tensor pc, Tensor pr, Tensor rc, Tensor rr, String type, double beta,
                                double labelSmoothing, boolean referenceFree) {
        Tensor logits = pc.sub(pr);
        if (!referenceFree) logits = logits.sub(rc.sub(rr));
        return switch (type) {
            case "sigmoid" -> torch.log_sigmoid(logits.mul(new Scalar(beta))).mul(new Scalar(-(1 - labelSmoothing)))
                    .sub(torch.log_sigmoid(logits.mul(new Scalar(-beta))).mul(new Scalar(labelSmoothing)));
            case "ipo" -> logits.sub(new Scalar(1 / (2 * beta))).square();
            case "hinge" -> torch.relu(logits.mul(new Scalar(-beta)).add(new Scalar(1.0)));
            default -> throw new IllegalArgumentException("unknown DPO loss " + type);
        };
    }

    /** TRL's metrics {rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins}, in float64. */
    public static double[] metrics(Tensor pc, Tensor pr, Tensor rc, Tensor rr, double beta) {
        Tensor chosen = pc.sub(rc).mul(new Scalar(beta)).detach(), rejected = pr.sub(rr).mul(new Scalar(beta)).detach();
        return new double[] {chosen.mean().item_double(), rejected.mean().item_double(),
                chosen.gt(rejected).to(torch.ScalarType.Double).mean().item_double(),
                chosen.sub(rejected).mean().item_double()};
    }
}
