package org.gpt4llm.backend;

import java.util.Locale;

/**
 * What {@link Backend#dpoLoss} computes (TRL DPOTrainer's {@code loss_type}, {@code beta},
 * {@code label_smoothing}, {@code reference_free}). With z = (log π(chosen) - log π(rejected)) -
 * (log ref(chosen) - log ref(rejected)), the reference terms left out when {@code referenceFree}:
 * <pre>
 * SIGMOID  -(1-ε) log σ(βz) - ε log σ(-βz)     (DPO; ε the label smoothing, the conservative DPO of cDPO)
 * IPO      (z - 1/(2β))²
 * HINGE    max(0, 1 - βz)                        (SLiC)
 * </pre>
 *
 * @param beta            the temperature β, above 0
 * @param labelSmoothing  ε in [0, 0.5), for the sigmoid loss only (0 for the others)
 */
public record DpoLoss(Type type, float beta, float labelSmoothing, boolean referenceFree) {
    /** The loss, its code in kernels/dpo_loss.cu being its ordinal. */
    public enum Type {
        SIGMOID, IPO, HINGE;

        /** The type named {@code name} (sigmoid, ipo, hinge); anything else refused in one sentence. */
        public static Type parse(String name) {
            for (Type t : values()) if (t.label().equals(name.trim().toLowerCase(Locale.ROOT))) return t;
            throw new IllegalArgumentException("--loss must be sigmoid, ipo or hinge, not '" + name + "'");
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** TRL's reward metrics as the kernel writes them, in this order. */
    public static final String[] METRICS = {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"};

    public DpoLoss {
        if (type == null) throw new IllegalArgumentException("the DPO loss needs a type");
        if (!(beta > 0) || !Float.isFinite(beta)) throw new IllegalArgumentException("--beta must be above 0, got " + beta);
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5f)) {
            throw new IllegalArgumentException("--label-smoothing must be in [0, 0.5), got " + labelSmoothing);
        }
        if (labelSmoothing > 0 && type != Type.SIGMOID) {
            throw new IllegalArgumentException("--label-smoothing applies to the sigmoid loss only, not " + type.label());
        }
    }

    /** The plain DPO loss: sigmoid, no label smoothing, with a reference. */
    public static DpoLoss sigmoid(float beta) {
        return new DpoLoss(Type.SIGMOID, beta, 0f, false);
    }
}
