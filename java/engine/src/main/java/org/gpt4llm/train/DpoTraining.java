package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.data.DpoBatch;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.SequenceLogProbs;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Direct Preference Optimization of a decoder (every weight, or LoRA adapters) on preference pairs, as
 * TRL's DPOTrainer: the policy's log-probability of each response is summed over its tokens
 * ({@link SequenceLogProbs}), and the backend's DPO kernel ({@link Backend#dpoLoss}) turns them and the
 * reference's (cached, carried by the batch) into the loss, its gradient per sequence and TRL's reward
 * metrics; the gradient goes back through the logits into the model.
 *
 * <p>Metrics under TRL's names: each step's line has {@code rewards/chosen}, {@code rewards/rejected},
 * {@code rewards/accuracies} and {@code rewards/margins} (means over the step's pairs); held-out
 * evaluations have {@code eval_loss} and the same four with the {@code eval_} prefix. Checkpoints are
 * those of the wrapped {@link FullFineTune} or {@link LoraFineTune}.
 */
public final class DpoTraining implements TrainableModel<DpoBatch> {
    private final DecoderFineTune inner;
    private final DecoderModel model;
    private final DpoLoss settings;
    private boolean training = true;
    /** Alive from a forward to its backward: the targets and the loss scratch the backward reuses. */
    private Arena scratch;
    private Tensor targets, losses;
    private int[] hostTargets;
    private float[] lastGrad;  // d mean loss / d logp, chosen rows then rejected rows
    private float[] lastMetrics;
    private final double[] stepSums = new double[DpoLoss.METRICS.length];
    private long stepPairs;

    /** {@code task}: full fine-tuning or LoRA of the policy; {@code settings}: the loss. */
    public DpoTraining(TrainableModel<TokenBatch> task, DpoLoss settings) {
        if (!(task instanceof DecoderFineTune d)) throw new IllegalArgumentException("DPO trains a FullFineTune or a LoraFineTune");
        this.inner = d;
        this.model = d.model();
        this.settings = settings;
    }

    public DecoderModel model() {
        return model;
    }

    /**
     * The summed target log-probabilities of every row of {@code rows} under {@code m} (one forward, the
     * activations kept for a backward only when the caller runs it next).
     */
    public static float[] logProbs(DecoderModel m, TokenBatch rows) {
        Backend be = m.backend();
        m.forward(rows);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = be.allocate(arena, MemoryCategory.ACTIVATIONS, DType.I32, rows.size());
            Tensor l = be.allocate(arena, MemoryCategory.ACTIVATIONS, DType.F32, rows.size());
            be.upload(t, rows.targets());
            return SequenceLogProbs.forward(be, l, m.logits(), t, rows.targets(), rows.batch());
        }
    }

    @Override
    public Backend backend() {
        return model.backend();
    }

    @Override
    public float forward(DpoBatch b) {
        if (b.refChosen() == null && !settings.referenceFree()) {
            throw new IllegalStateException("a DPO batch without reference log-probabilities (none attached to its data)");
        }
        Backend be = model.backend();
        TokenBatch rows = b.tokens();
        closeScratch();
        scratch = Arena.ofShared();
        targets = be.allocate(scratch, MemoryCategory.ACTIVATIONS, DType.I32, rows.size());
        losses = be.allocate(scratch, MemoryCategory.ACTIVATIONS, DType.F32, rows.size());
        be.upload(targets, rows.targets());
        hostTargets = rows.targets();
        model.forward(rows);
        float[] logp = SequenceLogProbs.forward(be, losses, model.logits(), targets, hostTargets, rows.batch());
        int p = b.pairs();
        try (Arena arena = Arena.ofConfined(); Arena host = Arena.ofConfined()) {
            Tensor pc = put(be, arena, host, java.util.Arrays.copyOfRange(logp, 0, p));
            Tensor pr = put(be, arena, host, java.util.Arrays.copyOfRange(logp, p, 2 * p));
            Tensor rc = b.refChosen() == null ? null : put(be, arena, host, b.refChosen());
            Tensor rr = b.refRejected() == null ? null : put(be, arena, host, b.refRejected());
            Tensor loss = be.allocate(arena, DType.F32, 1), metrics = be.allocate(arena, DType.F32, DpoLoss.METRICS.length);
            Tensor dc = be.allocate(arena, DType.F32, p), dr = be.allocate(arena, DType.F32, p);
            be.dpoLoss(loss, metrics, dc, dr, pc, pr, rc, rr, settings);
            lastGrad = new float[2 * p];
            System.arraycopy(be.download(dc), 0, lastGrad, 0, p);
            System.arraycopy(be.download(dr), 0, lastGrad, p, p);
            float[] m = lastMetrics = be.download(metrics);
            if (training) {
                for (int i = 0; i < m.length; i++) stepSums[i] += (double) m[i] * p;
                stepPairs += p;
            }
            return be.download(loss)[0];
        }
    }

    private static Tensor put(Backend be, Arena arena, Arena host, float[] v) {
        Tensor t = be.allocate(arena, DType.F32, v.length);
        be.upload(t, Tensor.of(host, v, v.length));
        return t;
    }

    @Override
    public void backward(float gradScale) {
        if (lastGrad == null) throw new IllegalStateException("backward without a forward pass");
        // the kernel's gradient is of the mean over this batch's pairs; the trainer asks for gradScale·d(sum)
        float s = gradScale * (lastGrad.length / 2);
        float[] w = new float[lastGrad.length];
        for (int i = 0; i < w.length; i++) w[i] = lastGrad[i] * s;
        Tensor logits = model.logits();
        SequenceLogProbs.backward(model.backend(), logits, losses, logits, targets, hostTargets, w);
        model.backwardFromLogitGradient();
        lastGrad = null;
        closeScratch();
    }

    private void closeScratch() {
        if (scratch != null) scratch.close();
        scratch = null;
        targets = losses = null;
    }

    @Override
    public Map<String, Double> stepMetrics() {
        Map<String, Double> out = new LinkedHashMap<>();
        if (stepPairs == 0) return out;
        for (int i = 0; i < stepSums.length; i++) out.put(DpoLoss.METRICS[i], stepSums[i] / stepPairs);
        java.util.Arrays.fill(stepSums, 0);
        stepPairs = 0;
        return out;
    }

    @Override
    public Map<String, Double> evaluate(Iterable<DpoBatch> batches) {
        setTraining(false);
        try {
            double loss = 0;
            double[] sums = new double[DpoLoss.METRICS.length];
            long pairs = 0;
            for (DpoBatch b : batches) {
                if (b.pairs() == 0) continue;
                loss += (double) forward(b) * b.pairs();
                for (int i = 0; i < sums.length; i++) sums[i] += (double) lastMetrics[i] * b.pairs();
                pairs += b.pairs();
                lastGrad = null;
                closeScratch();
            }
            Map<String, Double> out = new LinkedHashMap<>();
            double n = Math.max(1, pairs);
            out.put("eval_loss", loss / n);
            for (int i = 0; i < sums.length; i++) out.put("eval_" + DpoLoss.METRICS[i], sums[i] / n);
            return out;
        } finally {
            setTraining(true);
        }
    }

    @Override
    public void zeroGrad() {
        inner.zeroGrad();
    }

    @Override
    public void setTraining(boolean on) {
        training = on;
        inner.setTraining(on);
    }

    @Override
    public void setDropoutSeed(long seed) {
        inner.setDropoutSeed(seed);
    }

    @Override
    public Map<String, Tensor> trainableParameters() {
        return inner.trainableParameters();
    }

    @Override
    public Map<String, Tensor> trainableGradients() {
        return inner.trainableGradients();
    }

    @Override
    public boolean decays(String name) {
        return inner.decays(name);
    }

    @Override
    public void save(Path dir) throws IOException {
        inner.save(dir);
    }

    @Override
    public void restore(Path dir) throws IOException {
        inner.restore(dir);
    }
}
