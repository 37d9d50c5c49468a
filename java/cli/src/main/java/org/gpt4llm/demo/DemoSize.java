package org.gpt4llm.demo;

/**
 * How big the demo is: data counts, model size and the steps of every training run. {@link #DEFAULT}
 * is sized to finish in about ten minutes on two CPU cores before the weaker teacher's student and
 * rejection sampling (about four minutes more) with a clear gap between the tuned and the
 * untuned model; {@link #QUICK} runs every stage in about a minute (for tests and a first look), and
 * shows the plumbing rather than a well-trained model.
 *
 * @param train          demo tasks the teacher answers for instruction tuning
 * @param heldout        held-out demo tasks (disjoint from the training ones) for the evaluation
 * @param compare        training instructions whose model answers the teacher rates for the reward model
 * @param vocab          tokenizer vocabulary
 * @param preset         {@code init-model --preset}
 * @param maxLen         tokens per training row
 * @param batch          sequences per optimizer step (one micro-batch)
 * @param pretrainSteps  steps of language-model pretraining on the data's texts, never paired (the untuned base)
 * @param fullSteps      steps of full fine-tuning
 * @param loraSteps      steps of LoRA fine-tuning
 * @param rmSteps        steps of reward-model training
 * @param lr             peak learning rate of pretraining and full fine-tuning
 * @param loraLr         peak learning rate of LoRA (adapters start at zero and want a larger one)
 * @param loraRank       LoRA rank (alpha = 2 x rank), on every linear layer
 * @param rmLr           peak learning rate of the reward model
 * @param bestOf         samples per held-out question that the reward model ranks (best-of-n)
 * @param maxNewTokens   tokens per generated answer at most
 * @param weakShare      share of the tasks the weaker teacher answers sloppily (the paper's GPT-3.5 beside GPT-4)
 * @param rftSteps       steps of the rejection-sampling fine-tune (from the full-SFT model, on its best samples of
 *                       the {@code compare} training instructions)
 */
public record DemoSize(int train, int heldout, int compare, int vocab, String preset, int maxLen, int batch,
                       int pretrainSteps, int fullSteps, int loraSteps, int rmSteps, double lr, double loraLr,
                       int loraRank, double rmLr, int bestOf, int maxNewTokens, double weakShare, int rftSteps) {
    public static final DemoSize DEFAULT = new DemoSize(6000, 200, 300, 512, "demo", 64, 32,
            400, 1200, 1200, 100, 3e-3, 5e-3, 16, 3e-4, 4, 32, 0.3, 100);

    public static final DemoSize QUICK = new DemoSize(300, 40, 40, 300, "tiny", 64, 16,
            10, 20, 20, 10, 3e-3, 5e-3, 4, 3e-4, 2, 16, 0.3, 5);

    /** Checks every value, naming the flag of a bad one. */
    public DemoSize validate() {
        positive("--train", train);
        positive("--heldout", heldout);
        positive("--compare", compare);
        if (compare > train) throw new IllegalArgumentException("--compare " + compare + " is more than the " + train + " training tasks");
        positive("--vocab", vocab);
        positive("--max-len", maxLen);
        positive("--batch", batch);
        if (pretrainSteps < 0) throw new IllegalArgumentException("--pretrain-steps must not be negative, got " + pretrainSteps);
        positive("--full-steps", fullSteps);
        positive("--lora-steps", loraSteps);
        positive("--rm-steps", rmSteps);
        positive("--lora-rank", loraRank);
        if (bestOf < 2) throw new IllegalArgumentException("--best-of must be at least 2, got " + bestOf);
        positive("--max-new-tokens", maxNewTokens);
        if (!(weakShare > 0 && weakShare <= 1)) throw new IllegalArgumentException("--weak-share must be in (0, 1], got " + weakShare);
        positive("--rft-steps", rftSteps);
        if (!(lr > 0) || !(loraLr > 0) || !(rmLr > 0)) throw new IllegalArgumentException("learning rates must be positive");
        return this;
    }

    private static void positive(String flag, int v) {
        if (v < 1) throw new IllegalArgumentException(flag + " must be positive, got " + v);
    }
}
