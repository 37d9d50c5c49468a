package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.DeviceCounters;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A training step's budget on each device kind (cuda-emu, and the GPU where there is one), held by
 * the device's counters: once the first step has sized every buffer, a step (forward, backward and
 * update of 2 rows of 16 tokens, in one micro-batch or two) allocates and frees nothing and waits for
 * the device once, for the read-back of its loss and gradient norm (8 bytes); it uploads its values
 * once and each micro-batch once. Replayed from a captured graph, the whole step is one graph launch.
 */
class DeviceStepTest {
    private static final int ROWS = 2, TOKENS = 16;
    /** The step's scalars: 16 ints. */
    private static final long SCALAR_BYTES = 64;

    static Stream<Arguments> cases() {
        Object[][] cases = {{"full", 1, false}, {"full", 2, false}, {"lora", 1, false}, {"lora", 2, false},
                {"full", 2, true}, {"lora", 2, true}};
        return DeviceKind.all().flatMap(d -> Stream.of(cases).map(c -> Arguments.of(d, c[0], c[1], c[2])));
    }

    @ParameterizedTest(name = "{0} {1}, {2} micro-batch(es), graph {3}")
    @MethodSource("cases")
    void aWarmStepWaitsForNothingButItsReadBack(DeviceKind device, String kind, int microBatches, boolean graph) {
        long seed = TestSeeds.next();
        BatchSource<TokenBatch> data = Synthetic.counting(32, seed);
        Device dev = device.open();
        List<String> notes = new ArrayList<>();
        try (CudaBackend cuda = new CudaBackend(dev); DecoderModel m = Synthetic.model(cuda, seed).model()) {
            TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, kind, seed + 1);
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1);
                 StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, graph, notes::add)) {
                // eager: a warm-up, then a warm step; graph: a warm-up, the captured step, a replay
                int steps = graph ? 3 : 2;
                for (int step = 1; step <= steps; step++) {
                    List<TokenBatch> micro = DeviceSteps.micro(data, step, microBatches, ROWS / microBatches, TOKENS);
                    DeviceCounters before = dev.counters();
                    Trainer.Step r = runner.step(micro, step, DeviceSteps.lr(step), 1.0, Trainer.dropoutSeed(seed, step));
                    DeviceCounters d = dev.counters().minus(before);
                    System.out.printf("%s %s, %d micro-batch(es), graph %s, step %d: %s%n", device, kind, microBatches, graph,
                            step, d);
                    assertTrue(Double.isFinite(r.loss()) && r.loss() > 0 && r.gradNorm() > 0, "step " + step + ": " + r);
                    if (step == 1) continue;  // the warm-up sizes the buffers
                    String ctx = device + ", step " + step + " (seed " + seed + "): " + d;
                    int tokens = ROWS / microBatches * TOKENS, stride = (tokens + 63) / 64 * 64;
                    DeviceSteps.assertWarmStep(d, microBatches, SCALAR_BYTES + microBatches * 4L * stride * Integer.BYTES, graph, ctx);
                }
                assertEquals(graph ? 1 : 0, runner.captures());
                assertEquals(graph ? 1 : 0, runner.replays());
            }
        }
        assertEquals(List.of(), notes);
    }
}
