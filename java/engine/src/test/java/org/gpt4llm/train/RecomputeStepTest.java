package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Training steps as the trainer runs them (the step forms, two micro-batches accumulated, AdamW, LoRA
 * dropout seeded per step) with {@code recompute} end where the same steps without it end:
 * bit-identical weights on {@code cpu}; on the CUDA kernels (eagerly, and replayed from a captured
 * CUDA graph) within 1e-3 relative, the tolerance of {@link CudaGraphStepTest}'s replays.
 */
class RecomputeStepTest {
    private static final int STEPS = 3, ROWS = 2, TOKENS = 16;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"full", "lora"})
    void cpuWeightsAreBitIdentical(String kind) {
        long seed = TestSeeds.next();
        Map<String, float[]> plain, recomputed;
        try (CpuBackend cpu = new CpuBackend(2)) {
            plain = train(cpu, kind, seed, false, false);
            recomputed = train(cpu, kind, seed, true, false);
        }
        assertEquals(plain.keySet(), recomputed.keySet());
        plain.forEach((name, w) -> assertArrayEquals(w, recomputed.get(name), kind + " (seed " + seed + "): " + name));
    }

    static Stream<Arguments> devices() {
        return DeviceKind.all().flatMap(d -> Stream.of(Arguments.of(d, "lora", false), Arguments.of(d, "lora", true),
                Arguments.of(d, "full", true)));
    }

    @ParameterizedTest(name = "{0} {1}, graph {2}")
    @MethodSource("devices")
    void cudaKernelsAgreeWithin1e3(DeviceKind device, String kind, boolean graph) {
        long seed = TestSeeds.next();
        Map<String, float[]> plain, recomputed;
        try (CudaBackend cuda = new CudaBackend(device.open())) {
            plain = train(cuda, kind, seed, false, graph);
            recomputed = train(cuda, kind, seed, true, graph);
        }
        plain.forEach((name, w) -> {
            double err = Numerics.relErr(recomputed.get(name), w);
            assertTrue(err < 1e-3, device + " " + kind + " (seed " + seed + "): " + name + " rel err " + err);
        });
    }

    private static Map<String, float[]> train(Backend be, String kind, long seed, boolean recompute, boolean graph) {
        BatchSource<TokenBatch> data = Synthetic.counting(32, seed);
        try (DecoderModel m = Synthetic.model(be, seed).model()) {
            m.setRecompute(recompute);
            TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, kind, seed + 1);
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1);
                 StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, graph, note -> {})) {
                for (int step = 1; step <= STEPS; step++) {
                    List<TokenBatch> micro = DeviceSteps.micro(data, step, 2, ROWS, TOKENS);
                    runner.step(micro, step, DeviceSteps.lr(step), 1.0, Trainer.dropoutSeed(seed, step));
                }
                if (graph) assertTrue(runner.replays() > 0, "the steps after the captured one are replays");
            }
            Map<String, float[]> out = new LinkedHashMap<>();
            t.trainableParameters().forEach((name, p) -> out.put(name, be.download(p)));
            return out;
        }
    }
}
