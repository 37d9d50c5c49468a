package org.gpt4llm.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.model.Batch;
import org.gpt4llm.optim.AdamWOptimizer;

/**
 * Optimizer steps of a model: every micro-batch's forward and backward, the gradients accumulated
 * as {@link Trainer#accumulate} describes, then the AdamW update with global-norm clipping. The
 * step's values (gradient scale, learning rate, bias corrections, dropout seed) go to the backend
 * with one small upload and each micro-batch with one more ({@link TrainableModel#stage}); the loss
 * and the gradient norm come back with one small download after the step ({@link StepScalars}). In
 * between the host waits for nothing: on a GPU the whole step is queued at once.
 *
 * <p>With {@code cudaGraph}, a step with the same micro-batch shapes as the step before it (the
 * warm-up, which sized every buffer) is captured as a CUDA graph ({@link Backend#captureGraph}), and
 * the following steps of those shapes replay it: per step the uploads, one graph launch and the
 * read-back remain. A step of other shapes (the last, smaller batch of an epoch; packed rows of
 * another length) runs eagerly, with a one-line note the first time those shapes come up; the graph
 * is captured again when the buffers it reads had to grow.
 *
 * <p>With an offloaded optimizer ({@link AdamWOptimizer#offloaded}) the model hands each layer's
 * gradients to it as the backward completes them ({@link TrainableModel#onGradientsDone}), and the
 * update is host work: such steps are never captured.
 */
public final class StepRunner<B extends Batch> implements StepEngine<B> {
    private final TrainableModel<B> model;
    private final AdamWOptimizer opt;
    private final StepScalars scalars;
    private final boolean cudaGraph;
    private final Consumer<String> notes;
    private final Set<List<String>> noted = new HashSet<>();
    private Backend.Graph graph;
    private List<String> graphShapes, lastEagerShapes;
    private long graphGeneration, lastEagerGeneration = -1;
    private int captures, replays;

    /**
     * Steps of {@code model} updated by {@code opt}; with {@code cudaGraph} (a cuda backend only) the
     * steps are replayed from a captured graph where they can be. {@code notes} receives one-line
     * notes (a step that runs eagerly, and why).
     */
    public StepRunner(TrainableModel<B> model, AdamWOptimizer opt, boolean cudaGraph, Consumer<String> notes) {
        Backend be = model.backend();
        if (cudaGraph) requireGraphs(be);
        this.model = model;
        this.opt = opt;
        this.notes = notes;
        this.cudaGraph = cudaGraph && model.queuesOnly() && !opt.offloaded();
        if (cudaGraph && !model.queuesOnly()) {
            notes.accept("--cuda-graph: this model computes its loss on the host, so its steps run without a graph");
        } else if (cudaGraph && opt.offloaded()) {
            notes.accept("--cuda-graph: with --offload-optimizer the update runs on the host, so steps run without a graph");
        }
        this.scalars = be.stepScalars();
        // an offloaded optimizer takes each layer's gradients as the backward completes them, where the model tells
        if (opt.offloaded()) opt.collectByLayer(model.onGradientsDone(opt::gradientsDone));
    }

    /** Refuses {@code --cuda-graph} on a backend without graphs, in one sentence. */
    static void requireGraphs(Backend be) {
        if (!be.supportsGraphs()) {
            throw new IllegalArgumentException("--cuda-graph needs --backend cuda or cuda-emu; this run uses " + be.name());
        }
    }

    /**
     * One optimizer step over the micro-batches {@code micro} at learning rate {@code lr} with clipping
     * at {@code gradClip} (0: none) and LoRA dropout masks from {@code dropoutSeed}. Marks an NVTX range
     * {@code step N} and commits a JFR {@code org.gpt4llm.TrainStep} event. Throws
     * {@link TrainingDivergedException} ("step N: the training loss is NaN") when the loss or the
     * gradient norm is not finite; the update then changed nothing.
     */
    @Override
    public Trainer.Step step(List<B> micro, int step, double lr, double gradClip, long dropoutSeed) {
        Backend be = model.backend();
        StepEvent event = new StepEvent();
        event.begin();
        be.rangePush("step " + step);
        long t0 = System.nanoTime(), tokens = 0, targets = 0;
        double loss, norm;
        try {
            for (B b : micro) {
                targets += b.lossTerms();
                tokens += b.tokenCount();
            }
            model.setTraining(true);
            model.setDropoutSeed(dropoutSeed);
            scalars.begin(targets == 0 ? 0f : (float) (1.0 / targets), dropoutSeed);
            opt.prepare(scalars, (float) lr);
            scalars.upload();
            model.stage(micro);
            run(micro, (float) gradClip);
            StepScalars.Readback r = scalars.read();
            loss = targets == 0 ? 0 : r.lossSum() / targets;
            norm = Math.sqrt(r.sumOfSquares());
            if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
                opt.cancel();
                throw new TrainingDivergedException("step " + step + ": "
                        + (Double.isFinite(loss) ? "the gradient norm is " + norm : "the training loss is " + loss));
            }
        } finally {
            be.rangePop();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        event.step = step;
        event.loss = (float) loss;
        event.tokens = tokens;
        event.commit();
        return new Trainer.Step(step, loss, norm, tokens, lr, seconds);
    }

    /** Queues the step's work: replayed, captured then launched, or eagerly. */
    private void run(List<B> micro, float gradClip) {
        List<String> shapes = shapes(micro);
        long generation = model.bufferGeneration();
        if (cudaGraph && graph != null) {
            boolean sameShapes = shapes.equals(graphShapes);
            if (sameShapes && generation == graphGeneration) {
                graph.launch();
                replays++;
                return;
            }
            if (!sameShapes && noted.add(shapes)) {
                notes.accept("--cuda-graph: micro-batches " + String.join(", ", shapes) + " differ from the captured step's "
                        + String.join(", ", graphShapes) + ": such steps run eagerly");
            }
            if (generation != graphGeneration) {
                // the graph reads buffers that were reallocated since: capture again after a warm-up
                if (sameShapes) notes.accept("--cuda-graph: the step's buffers were reallocated; it is captured again");
                graph.close();
                graph = null;
            }
        }
        if (cudaGraph && graph == null && shapes.equals(lastEagerShapes) && generation == lastEagerGeneration) {
            graph = model.backend().captureGraph(() -> {
                accumulate(micro);
                opt.update(scalars, gradClip);
            });
            graphShapes = shapes;
            graphGeneration = generation;
            captures++;
            graph.launch();
            return;
        }
        accumulate(micro);
        // a loss computed on the host is known now: a non-finite one stops the step before its update
        if (Double.isFinite(scalars.hostLoss())) opt.update(scalars, gradClip);
        lastEagerShapes = shapes;
        lastEagerGeneration = model.bufferGeneration();
    }

    /** Zeroes the gradients, then every micro-batch with loss terms forward and backward, in its slot. */
    private void accumulate(List<B> micro) {
        model.zeroGrad();
        opt.startAccumulation();
        for (int i = 0; i < micro.size(); i++) {
            B b = micro.get(i);
            if (b.lossTerms() == 0) continue;
            model.forward(b, i, scalars);
            model.backward(scalars);
        }
    }

    /** What fixes a step's queued work: each micro-batch's shape, and whether it has loss terms (none: skipped). */
    private static List<String> shapes(List<? extends Batch> micro) {
        List<String> s = new ArrayList<>(micro.size());
        for (Batch b : micro) s.add(b.lossTerms() == 0 ? b.shape() + " (no loss terms)" : b.shape());
        return s;
    }

    /** Steps captured into a graph so far (each also ran by launching it). */
    public int captures() {
        return captures;
    }

    /** Steps replayed from a captured graph so far. */
    public int replays() {
        return replays;
    }

    @Override
    public void close() {
        if (graph != null) graph.close();
        graph = null;
        if (opt.offloaded()) {
            model.onGradientsDone(null);
            opt.collectByLayer(false);
        }
        scalars.close();
    }
}
