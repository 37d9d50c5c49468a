package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.StepScalars;
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
 * ({@link SequenceLogProbs}, from the per-token losses of the model's one forward), and the backend's
 * DPO kernel ({@link Backend#dpoLoss}) turns them and the reference's (cached, carried by the batch and
 * uploaded with its tokens) into the loss, its gradient per sequence and TRL's reward metrics; the
 * gradient goes back through the logits into the model, each sequence weighted by its own scale.
 *
 * <p>A training step keeps all of it on the backend ({@link Backend#dpoStep}): the loss is added to the
 * step's loss sum, the per-sequence scales take the step's gradient scale where the step's scalars live,
 * and the metrics add up in a buffer that {@link #stepMetrics} reads when the step's line is logged. The
 * step reads nothing back, so it can be captured as a CUDA graph.
 *
 * <p>Metrics under TRL's names: each step's line has {@code rewards/chosen}, {@code rewards/rejected},
 * {@code rewards/accuracies} and {@code rewards/margins} (means over the step's pairs); held-out
 * evaluations have {@code eval_loss} and the same four with the {@code eval_} prefix. Checkpoints are
 * those of the wrapped {@link FullFineTune} or {@link LoraFineTune}.
 */
public final class DpoTraining implements TrainableModel<DpoBatch> {
    private static final int METRICS = DpoLoss.METRICS.length;
    private final DecoderFineTune inner;
    private final DecoderModel model;
    private final DpoLoss settings;
    private final Backend backend;
    private final Arena sumsArena = Arena.ofShared();
    /** F32 [4]: the step's metrics times their pairs, summed over its micro-batches until {@link #stepMetrics}. */
    private final Tensor metricSums;
    private Arena work;
    /** Sized for {@link #pairCapacity} pairs: log-probabilities, d loss/d logp, row scales (2P each, chosen then rejected), loss and metrics. */
    private Tensor logp, grad, rowScales, lossAndMetrics;
    private int pairCapacity;
    private long generation;
    /** The pairs of the last forward, until its backward; -1 when there is none to run back. */
    private int lastPairs = -1;
    private long stepPairs;
    private float[] lastMetrics;
    /** Whose metric sums {@link #stepMetrics} reports: this model's, or every replica's of a data-parallel run. */
    private List<DpoTraining> reported = List.of(this);

    /** {@code task}: full fine-tuning or LoRA of the policy; {@code settings}: the loss. */
    public DpoTraining(TrainableModel<TokenBatch> task, DpoLoss settings) {
        if (!(task instanceof DecoderFineTune d)) throw new IllegalArgumentException("DPO trains a FullFineTune or a LoraFineTune");
        this.inner = d;
        this.model = d.model();
        this.settings = settings;
        this.backend = model.backend();
        this.metricSums = backend.allocate(sumsArena, MemoryCategory.ACTIVATIONS, DType.F32, METRICS);
    }

    public DecoderModel model() {
        return model;
    }

    /**
     * The summed target log-probabilities of every row of {@code rows} under {@code m} (one forward, the
     * activations kept for a backward only when the caller runs it next); one download of its B sums.
     */
    public static float[] logProbs(DecoderModel m, TokenBatch rows) {
        m.stage(List.of(rows));
        Tensor losses = m.forwardLosses(rows, 0, null);
        try (Arena arena = Arena.ofConfined()) {
            Tensor logp = m.backend().allocate(arena, MemoryCategory.ACTIVATIONS, DType.F32, rows.batch());
            m.backend().sequenceLogProbs(logp, losses);
            return m.backend().download(logp);
        }
    }

    @Override
    public Backend backend() {
        return backend;
    }

    /** Uploads each micro-batch's tokens with its reference log-probabilities (chosen then rejected), in one copy each. */
    @Override
    public void stage(List<DpoBatch> micro) {
        List<TokenBatch> rows = new ArrayList<>(micro.size());
        List<float[]> refs = new ArrayList<>(micro.size());
        int most = 0;
        for (DpoBatch b : micro) {
            requireReference(b);
            rows.add(b.tokens());
            refs.add(b.refChosen() == null ? null : concat(b.refChosen(), b.refRejected()));
            most = Math.max(most, b.pairs());
            stepPairs += b.pairs();
        }
        model.stage(rows, refs);
        ensurePairs(most);
    }

    @Override
    public void forward(DpoBatch b, int slot, StepScalars step) {
        int p = b.pairs();
        Tensor loss = lossAndMetrics.rows(0, 1), metrics = lossAndMetrics.rows(1, METRICS);
        loss(b, slot, model.forwardLosses(b.tokens(), slot, step));
        backend.dpoStep(step, metricSums, rowScales.rows(0, 2L * p), loss, metrics, grad.rows(0, p), grad.rows(p, p));
    }

    @Override
    public void backward(StepScalars step) {
        if (lastPairs < 0) throw new IllegalStateException("backward without a forward pass");
        model.backward(rowScales.rows(0, 2L * lastPairs));
        lastPairs = -1;
    }

    /** The DPO loss of micro-batch {@code b} in slot {@code slot} from its per-token losses: into {@link #lossAndMetrics} and {@link #grad}. */
    private void loss(DpoBatch b, int slot, Tensor tokenLosses) {
        int p = b.pairs();
        Tensor lp = logp.rows(0, 2L * p);
        backend.sequenceLogProbs(lp, tokenLosses);
        Tensor refs = b.refChosen() == null ? null : model.rowValues(slot, b.tokens());
        backend.dpoLoss(lossAndMetrics.rows(0, 1), lossAndMetrics.rows(1, METRICS), grad.rows(0, p), grad.rows(p, p),
                lp.rows(0, p), lp.rows(p, p), refs == null ? null : refs.rows(0, p), refs == null ? null : refs.rows(p, p),
                settings);
        lastPairs = p;
    }

    /** Runs {@code b} alone (slot 0) and reads its loss and metrics back with one download. */
    @Override
    public float forward(DpoBatch b) {
        requireReference(b);
        model.stage(List.of(b.tokens()), java.util.Collections.singletonList(
                b.refChosen() == null ? null : concat(b.refChosen(), b.refRejected())));
        ensurePairs(b.pairs());
        loss(b, 0, model.forwardLosses(b.tokens(), 0, null));
        float[] v = backend.download(lossAndMetrics);
        lastMetrics = java.util.Arrays.copyOfRange(v, 1, 1 + METRICS);
        return v[0];
    }

    @Override
    public void backward(float gradScale) {
        if (lastPairs < 0) throw new IllegalStateException("backward without a forward pass");
        int p = lastPairs;
        // the kernel's gradient is of the mean over this batch's pairs; the caller asks for gradScale·d(sum)
        float[] s = backend.download(grad.rows(0, 2L * p));
        for (int i = 0; i < s.length; i++) s[i] *= -(float) p * gradScale;
        try (Arena host = Arena.ofConfined()) {
            backend.upload(rowScales.rows(0, 2L * p), Tensor.of(host, s, s.length));
        }
        backward((StepScalars) null);
    }

    private void requireReference(DpoBatch b) {
        if (b.refChosen() == null && !settings.referenceFree()) {
            throw new IllegalStateException("a DPO batch without reference log-probabilities (none attached to its data)");
        }
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Buffers for {@code pairs} pairs, grown (and the step's captured work made stale) when a batch has more. */
    private void ensurePairs(int pairs) {
        if (pairs <= pairCapacity) return;
        if (work != null) work.close();
        work = Arena.ofShared();
        logp = backend.allocate(work, MemoryCategory.ACTIVATIONS, DType.F32, 2L * pairs);
        grad = backend.allocate(work, MemoryCategory.ACTIVATIONS, DType.F32, 2L * pairs);
        rowScales = backend.allocate(work, MemoryCategory.ACTIVATIONS, DType.F32, 2L * pairs);
        lossAndMetrics = backend.allocate(work, MemoryCategory.ACTIVATIONS, DType.F32, 1 + METRICS);
        pairCapacity = pairs;
        generation++;
    }

    @Override
    public boolean queuesOnly() {
        return true;
    }

    @Override
    public long bufferGeneration() {
        return model.bufferGeneration() + generation;
    }

    /**
     * Makes this model (replica 0 of a data-parallel run, the one the trainer logs) report the metrics of
     * all {@code replicas}, each of which holds those of its share of the step's pairs.
     */
    public void reportFor(List<DpoTraining> replicas) {
        if (!replicas.contains(this)) throw new IllegalArgumentException("the reporting model is not one of the replicas");
        reported = List.copyOf(replicas);
    }

    /**
     * The means over the pairs of the steps since the last call: one download of each reported model's
     * device sums, which start again.
     */
    @Override
    public Map<String, Double> stepMetrics() {
        Map<String, Double> out = new LinkedHashMap<>();
        double[] sums = new double[METRICS];
        long pairs = 0;
        for (DpoTraining r : reported) {
            if (r.stepPairs == 0) continue;
            float[] s = r.backend.download(r.metricSums);
            for (int i = 0; i < METRICS; i++) sums[i] += s[i];
            r.backend.zero(r.metricSums);
            pairs += r.stepPairs;
            r.stepPairs = 0;
        }
        if (pairs == 0) return out;
        for (int i = 0; i < METRICS; i++) out.put(DpoLoss.METRICS[i], sums[i] / pairs);
        return out;
    }

    @Override
    public Map<String, Double> evaluate(Iterable<DpoBatch> batches) {
        setTraining(false);
        try {
            double loss = 0;
            double[] sums = new double[METRICS];
            long pairs = 0;
            for (DpoBatch b : batches) {
                if (b.pairs() == 0) continue;
                loss += (double) forward(b) * b.pairs();
                for (int i = 0; i < sums.length; i++) sums[i] += (double) lastMetrics[i] * b.pairs();
                pairs += b.pairs();
                lastPairs = -1;
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
    public DecoderModel decoder() {
        return model;
    }

    @Override
    public boolean onGradientsDone(java.util.function.IntConsumer hook) {
        return inner.onGradientsDone(hook);
    }

    @Override
    public boolean streamGradients() {
        return inner.streamGradients();
    }

    @Override
    public void setTraining(boolean on) {
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
    public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
        inner.saveAsRank(dir, rank, ranks);
    }

    @Override
    public void restore(Path dir) throws IOException {
        inner.restore(dir);
    }
}
