package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.data.RewardBatch;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Reward-model training on scored responses: the loss of a batch is the mean over every pair (i, j)
 * of one prompt's responses with score_i > score_j of {@code -log σ(r_i - r_j - margin) +
 * centerCoef (r_i + r_j)²} (InstructGPT's K-choose-2 comparisons; TRL's margin and
 * {@code center_rewards_coefficient}), computed by the backend's pairwise-loss kernel. Every weight is
 * trained, or with LoRA ({@link RewardModel#enableLora} already called) the adapters and the head;
 * checkpoints are reward-model folders (with LoRA, PEFT adapter folders naming the base) with the
 * base's tokenizer files.
 *
 * <p>Held-out metrics over the same pairs: {@code eval_accuracy} (the share with r_i > r_j),
 * {@code eval_chosen_reward} and {@code eval_rejected_reward} (mean rewards of the better and the
 * worse response of each pair), and {@code eval_margin} (their mean difference).
 */
public final class RewardTraining implements TrainableModel<RewardBatch> {
    private final RewardModel rm;
    private final Path base;
    private final float margin, centerCoef;
    private float[] lastDr, lastRewards;
    private int lastPairs;

    /** {@code base} is the folder the model came from (its tokenizer files are carried along), or null. */
    public RewardTraining(RewardModel rm, Path base, float margin, float centerCoef) {
        this.rm = rm;
        this.base = base;
        this.margin = margin;
        this.centerCoef = centerCoef;
    }

    @Override
    public Backend backend() {
        return rm.backend();
    }

    @Override
    public float forward(RewardBatch b) {
        float[] r = rm.rewards(b.tokens(), b.last());
        Backend be = rm.backend();
        int m = r.length;
        try (Arena arena = Arena.ofConfined(); Arena host = Arena.ofConfined()) {
            Tensor rewards = be.allocate(arena, DType.F32, m), gold = be.allocate(arena, DType.F32, m);
            Tensor offsets = be.allocate(arena, DType.I32, b.offsets().length);
            Tensor loss = be.allocate(arena, DType.F32, 1), dr = be.allocate(arena, DType.F32, m);
            be.upload(rewards, Tensor.of(host, r, m));
            be.upload(gold, Tensor.of(host, b.gold(), m));
            be.upload(offsets, b.offsets());
            lastPairs = be.rewardPairwiseLoss(loss, dr, rewards, gold, offsets, b.gold(), b.offsets(), margin, centerCoef);
            lastDr = be.download(dr);
            lastRewards = r;
            return be.download(loss)[0];
        }
    }

    @Override
    public void backward(float gradScale) {
        if (lastDr == null) throw new IllegalStateException("backward without a forward pass");
        // the kernel's dr is of the mean over this batch's pairs; the trainer asks for gradScale·d(sum)
        float s = gradScale * lastPairs;
        float[] d = new float[lastDr.length];
        for (int i = 0; i < d.length; i++) d[i] = lastDr[i] * s;
        rm.backward(d);
        lastDr = null;
    }

    @Override
    public void zeroGrad() {
        rm.zeroGrad();
    }

    @Override
    public void setTraining(boolean training) {
        rm.backbone().setTraining(training);
    }

    @Override
    public void setDropoutSeed(long seed) {
        rm.backbone().setDropoutSeed(seed);
    }

    @Override
    public org.gpt4llm.model.DecoderModel decoder() {
        return rm.backbone();
    }

    @Override
    public Map<String, Tensor> trainableParameters() {
        return rm.trainableParameters();
    }

    @Override
    public Map<String, Tensor> trainableGradients() {
        return rm.gradients();
    }

    @Override
    public Map<String, Double> evaluate(Iterable<RewardBatch> batches) {
        setTraining(false);
        try {
            return heldOut(batches);
        } finally {
            setTraining(true);
        }
    }

    private Map<String, Double> heldOut(Iterable<RewardBatch> batches) {
        double lossSum = 0;
        long[] counts = new long[2];      // pairs, pairs the rewards order correctly
        double[] rewardSums = new double[2]; // of the chosen and of the rejected responses
        for (RewardBatch b : batches) {
            if (b.pairs() == 0) continue;
            lossSum += (double) forward(b) * b.pairs();
            lastDr = null;
            float[] r = lastRewards;
            RewardPairs.forEach(b.gold(), b.offsets(), (i, j) -> {
                counts[0]++;
                if (r[i] > r[j]) counts[1]++;
                rewardSums[0] += r[i];
                rewardSums[1] += r[j];
            });
        }
        long pairs = counts[0], correct = counts[1];
        double chosen = rewardSums[0], rejected = rewardSums[1];
        Map<String, Double> out = new LinkedHashMap<>();
        double n = Math.max(1, pairs);
        out.put("eval_loss", lossSum / n);
        out.put("eval_accuracy", correct / n);
        out.put("eval_chosen_reward", chosen / n);
        out.put("eval_rejected_reward", rejected / n);
        out.put("eval_margin", (chosen - rejected) / n);
        return out;
    }

    @Override
    public void save(Path dir) throws IOException {
        if (rm.loraConfig() == null) rm.save(dir);
        else rm.saveAdapter(dir, base == null ? "" : base.toAbsolutePath().normalize().toString());
        TokenizerFiles.copy(base, dir);
    }

    @Override
    public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
        if (rm.loraConfig() != null) {
            if (rank == 0) save(dir); // the adapters and the head are whole on every rank
            return;
        }
        rm.saveAsRank(dir, rank, ranks);
        if (rank == 0) TokenizerFiles.copy(base, dir);
    }

    @Override
    public void restore(Path dir) throws IOException {
        if (rm.loraConfig() == null) CheckpointStore.restoreWeights(dir, rm.backend(), rm.parameters());
        else rm.loadAdapter(dir);
    }
}
