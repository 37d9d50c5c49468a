package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.DeviceCounters;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.data.DpoBatch;
import org.gpt4llm.data.DpoDataset;
import org.gpt4llm.data.Example;
import org.gpt4llm.data.PreferencePairs;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A DPO training step on each device kind (cuda-emu, and the GPU where there is one) keeps to the budget
 * of an sft step ({@link DeviceStepTest}): once the first step has sized every buffer, it allocates and
 * frees nothing and waits for the device once, for the read-back of its loss and gradient norm (8
 * bytes); it uploads its values once and each micro-batch once, the reference log-probabilities riding
 * with the tokens. The reward metrics stay on the device until the step's line reads them. Replayed from
 * a captured graph the whole step is one graph launch, and the captured steps give the losses, gradient
 * norms and metrics of eager ones (bit for bit in the emulation, run with one worker).
 */
class DpoDeviceStepTest {
    private static final int PAIRS = 4, LENGTH = 16;
    private static final long SCALAR_BYTES = 64;

    static Stream<Arguments> cases() {
        Object[][] cases = {{"full", 1, false}, {"lora", 2, false}, {"full", 2, true}, {"lora", 1, true}};
        return DeviceKind.all().flatMap(d -> Stream.of(cases).map(c -> Arguments.of(d, c[0], c[1], c[2])));
    }

    @ParameterizedTest(name = "{0} {1}, {2} micro-batch(es), graph {3}")
    @MethodSource("cases")
    void aWarmStepKeepsTheSftBudget(DeviceKind device, String kind, int microBatches, boolean graph) {
        long seed = TestSeeds.next();
        DpoDataset data = dataset(new Random(seed), 24);
        Device dev = device.open();
        List<String> notes = new ArrayList<>();
        try (CudaBackend cuda = new CudaBackend(dev); DecoderModel m = Synthetic.model(cuda, seed).model()) {
            DpoTraining t = new DpoTraining(DeviceSteps.trainable(m, kind, seed + 1), DpoLoss.sigmoid(0.5f));
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1);
                 StepRunner<DpoBatch> runner = new StepRunner<>(t, opt, graph, notes::add)) {
                int steps = graph ? 3 : 2;
                for (int step = 1; step <= steps; step++) {
                    List<DpoBatch> micro = micro(data, step, microBatches, PAIRS / microBatches);
                    DeviceCounters before = dev.counters();
                    Trainer.Step r = runner.step(micro, step, DeviceSteps.lr(step), 1.0, Trainer.dropoutSeed(seed, step));
                    DeviceCounters d = dev.counters().minus(before);
                    System.out.printf("DPO %s %s, %d micro-batch(es), graph %s, step %d: %s%n", device, kind, microBatches,
                            graph, step, d);
                    assertTrue(Double.isFinite(r.loss()) && r.loss() > 0 && r.gradNorm() > 0, "step " + step + ": " + r);
                    Map<String, Double> metrics = t.stepMetrics();
                    assertEquals(List.of(DpoLoss.METRICS), List.copyOf(metrics.keySet()), "step " + step);
                    double accuracy = metrics.get("rewards/accuracies");
                    assertTrue(accuracy >= 0 && accuracy <= 1, "step " + step + ": " + metrics);
                    if (step == 1) continue;  // the warm-up sizes the buffers
                    String ctx = device + ", step " + step + " (seed " + seed + "): " + d;
                    int pairs = PAIRS / microBatches, tokens = 2 * pairs * LENGTH, stride = (tokens + 63) / 64 * 64;
                    // each micro-batch: tokens, targets, positions, segments, then a reference value per row
                    DeviceSteps.assertWarmStep(d, microBatches,
                            SCALAR_BYTES + microBatches * (4L * stride + 2L * pairs) * Integer.BYTES, graph, ctx);
                }
                assertEquals(graph ? 1 : 0, runner.captures());
                assertEquals(graph ? 1 : 0, runner.replays());
            }
        }
        assertEquals(List.of(), notes);
    }

    /** What a run ended with: every step's loss, gradient norm and reward metrics, and the trained weights. */
    private record Run(List<Double> losses, List<Double> norms, List<Map<String, Double>> metrics,
                       Map<String, float[]> weights, int replays) {}

    static Stream<Arguments> devicesAndKinds() {
        return DeviceKind.all().flatMap(d -> Stream.of(Arguments.of(d, "full"), Arguments.of(d, "lora")));
    }

    /** 5 steps of 2 micro-batches: a warm-up, the captured step, three replays, against the same steps run eagerly. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("devicesAndKinds")
    void capturedStepsGiveTheEagerLosses(DeviceKind device, String kind) {
        long seed = TestSeeds.next();
        DpoDataset data = dataset(new Random(seed), 40);
        Run eager = train(device, kind, seed, data, false);
        Run graph = train(device, kind, seed, data, true);
        String ctx = device + ", " + kind + ", seed " + seed;
        assertEquals(3, graph.replays(), ctx);
        if (device == DeviceKind.CUDA_EMU) {
            assertEquals(eager.losses(), graph.losses(), ctx + ": losses");
            assertEquals(eager.norms(), graph.norms(), ctx + ": gradient norms");
            assertEquals(eager.metrics(), graph.metrics(), ctx + ": reward metrics");
            eager.weights().forEach((name, v) -> assertTrue(java.util.Arrays.equals(v, graph.weights().get(name)), ctx + ": " + name));
        } else {
            // a GPU's atomics add in the order its blocks finish (see CudaGraphStepTest.Agreement)
            for (int i = 0; i < eager.losses().size(); i++) {
                double l = eager.losses().get(i), gl = graph.losses().get(i);
                assertTrue(Math.abs(gl - l) <= 1e-4 * Math.abs(l), ctx + ": step " + (i + 1) + " loss " + gl + " vs " + l);
            }
            eager.weights().forEach((name, v) -> assertTrue(Numerics.relErr(graph.weights().get(name), v) <= 1e-3, ctx + ": " + name));
        }
        // the steps trained: the metrics moved between the first and the last step
        assertTrue(!eager.metrics().getFirst().equals(eager.metrics().getLast()), ctx + ": " + eager.metrics());
    }

    private static Run train(DeviceKind device, String kind, long seed, DpoDataset data, boolean graph) {
        List<Double> losses = new ArrayList<>(), norms = new ArrayList<>();
        List<Map<String, Double>> metrics = new ArrayList<>();
        Map<String, float[]> weights = new java.util.LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        Device dev = device == DeviceKind.CUDA_EMU ? new EmuDevice(1) : device.open();
        int replays;
        try (CudaBackend cuda = new CudaBackend(dev); DecoderModel m = Synthetic.model(cuda, seed).model()) {
            DpoTraining t = new DpoTraining(DeviceSteps.trainable(m, kind, seed + 1), DpoLoss.sigmoid(0.5f));
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1);
                 StepRunner<DpoBatch> runner = new StepRunner<>(t, opt, graph, notes::add)) {
                for (int step = 1; step <= 5; step++) {
                    Trainer.Step r = runner.step(micro(data, step, 2, PAIRS / 2), step, DeviceSteps.lr(step), 1.0,
                            Trainer.dropoutSeed(seed, step));
                    losses.add(r.loss());
                    norms.add(r.gradNorm());
                    metrics.add(t.stepMetrics());
                }
                t.trainableParameters().forEach((name, p) -> weights.put(name, cuda.download(p)));
                replays = runner.replays();
            }
        }
        assertEquals(List.of(), notes);
        return new Run(losses, norms, metrics, weights, replays);
    }

    /** Step {@code step}'s micro-batches: {@code count} of {@code pairs} pairs, rows padded to {@link #LENGTH}. */
    private static List<DpoBatch> micro(DpoDataset data, int step, int count, int pairs) {
        List<DpoBatch> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] idx = new int[pairs];
            for (int r = 0; r < pairs; r++) idx[r] = ((step * count + i) * pairs + r) % data.size();
            out.add(data.batch(idx, LENGTH));
        }
        return out;
    }

    /** n pairs of random rows of {@link Synthetic#TINY}'s vocabulary, with random reference log-probabilities attached. */
    static DpoDataset dataset(Random rng, int n) {
        List<PreferencePairs.Pair> pairs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int prompt = 2 + rng.nextInt(5);
            pairs.add(new PreferencePairs.Pair(new RecordRef(Path.of("pairs.json"), i, 1), example(rng, prompt),
                    example(rng, prompt)));
        }
        DpoDataset ds = new DpoDataset(pairs, 0);
        float[] chosen = new float[n], rejected = new float[n];
        for (int i = 0; i < n; i++) {
            chosen[i] = (float) (-20 + rng.nextGaussian());
            rejected[i] = (float) (-20 + rng.nextGaussian());
        }
        ds.attachReference(chosen, rejected);
        return ds;
    }

    private static Example example(Random rng, int prompt) {
        int n = prompt + 1 + rng.nextInt(LENGTH - prompt - 1);
        int[] ids = new int[n], labels = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 1 + rng.nextInt(Synthetic.TINY.vocabSize() - 1);
            labels[i] = i < prompt ? TokenBatch.IGNORE : ids[i];
        }
        return new Example(new RecordRef(Path.of("pairs.json"), 0, 1), ids, labels, prompt);
    }
}
