package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.memory.Footprint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.plan.MemoryPlan;
import org.gpt4llm.plan.MemoryPlanner;
import org.gpt4llm.plan.PlanRequest;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Planned against measured: real training steps of the tiny LLaMA on each backend peak within 10%
 * of what {@code gpt4llm plan} says for the same run, on the device and on the host, and every
 * category that lives through a step (weights, gradients, master weights, moments, saved
 * activations, logits) is exactly the plan's, on the device and on the host, the optimizer offloaded
 * or not (on the cpu offloading changes nothing, and the plan says the same).
 */
class PlannedMemoryTest {
    private static final LlamaConfig TINY = LlamaConfig.preset("tiny", 512);
    private static final int ROWS = 4, TOKENS = 64, STEPS = 2;
    private static final double TOLERANCE = 0.10;
    private static final List<MemoryCategory> LASTING = List.of(MemoryCategory.WEIGHTS, MemoryCategory.GRADIENTS,
            MemoryCategory.MASTER_WEIGHTS, MemoryCategory.MOMENTS, MemoryCategory.ACTIVATIONS, MemoryCategory.LOGITS);

    /**
     * One configuration of the grid, a cell per line: full fine-tuning ({@code lora} null) or LoRA,
     * with or without recomputation and the optimizer offloaded. The run below sets up what a cell
     * names; a setting it does not set up makes the cell's run differ from its plan.
     */
    record Cell(String name, LoraConfig lora, boolean recompute, boolean offloadOptimizer) {
        PlanRequest plan(String backend) {
            return new PlanRequest(TINY, backend, TOKENS, ROWS, lora, recompute, offloadOptimizer);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static final List<Cell> CELLS = List.of(
            new Cell("full", null, false, false),
            new Cell("lora", new LoraConfig(8, 16f, 0.1f, LoraConfig.LLAMA_TARGETS), false, false),
            new Cell("lora q,v", new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj")), false, false),
            new Cell("full recompute", null, true, false),
            new Cell("lora recompute", new LoraConfig(8, 16f, 0.1f, LoraConfig.LLAMA_TARGETS), true, false),
            new Cell("full offload", null, false, true),
            new Cell("full offload recompute", null, true, true),
            new Cell("lora offload", new LoraConfig(8, 16f, 0.1f, LoraConfig.LLAMA_TARGETS), false, true));

    static Stream<Arguments> grid() {
        List<String> backends = new ArrayList<>(List.of("cpu"));
        DeviceKind.all().forEach(k -> backends.add(k.toString()));
        return backends.stream().flatMap(b -> CELLS.stream().map(c -> Arguments.of(b, c)));
    }

    private static Backend open(String name) {
        return name.equals("cpu") ? new CpuBackend(2)
                : new CudaBackend(DeviceKind.valueOf(name.toUpperCase().replace('-', '_')).open());
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("grid")
    void aRunPeaksWhereItsPlanSays(String backend, Cell cell) {
        long seed = TestSeeds.next();
        MemoryPlan plan = MemoryPlanner.plan(cell.plan(backend));
        long peak, peakHost;
        Footprint lasting;
        try (Backend be = open(backend); DecoderModel m = DecoderModels.initRandom(be, TINY, seed)) {
            if (cell.lora() != null) m.enableLora(cell.lora(), seed + 1);
            m.setRecompute(cell.recompute());
            TrainableModel<TokenBatch> t = cell.lora() == null ? new FullFineTune(m, null) : new LoraFineTune(m, null);
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.0, cell.offloadOptimizer());
                 StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, false, note -> {})) {
                Random rng = TestSeeds.random();
                for (int step = 1; step <= STEPS; step++) {
                    Trainer.Step r = runner.step(List.of(batch(rng)), step, 1e-3, 1.0, Trainer.dropoutSeed(seed, step));
                    assertTrue(Double.isFinite(r.loss()) && r.loss() > 0, "step " + step + ": " + r);
                }
                peak = be.memory().peakDeviceBytes();
                peakHost = be.memory().peakHostBytes();
                lasting = be.memory().live();
            }
        }
        String ctx = backend + " " + cell.name() + " (seed " + seed + "): measured peak " + peak + ", planned "
                + plan.deviceBytes() + "; plan " + plan.footprint() + "; live after the steps " + lasting;
        System.out.println(ctx);
        assertTrue(Math.abs(peak - plan.deviceBytes()) <= TOLERANCE * plan.deviceBytes(), ctx);
        assertTrue(Math.abs(peakHost - plan.hostBytes()) <= TOLERANCE * plan.hostBytes(), "host: " + ctx);
        // what lives through a step is allocated by the same constructors the plan ran: exactly the plan, on both sides
        for (MemoryCategory c : LASTING) {
            assertEquals(plan.footprint().device(c), lasting.device(c), c.key() + ": " + ctx);
            assertEquals(plan.footprint().host(c), lasting.host(c), "host " + c.key() + ": " + ctx);
        }
        if (cell.offloadOptimizer() && backend.equals("cpu")) {
            Cell kept = new Cell(cell.name(), cell.lora(), cell.recompute(), false);
            assertEquals(MemoryPlanner.plan(kept.plan(backend)).footprint(), plan.footprint(), "nothing to offload: " + ctx);
        } else if (cell.offloadOptimizer()) {
            assertTrue(plan.footprint().device(MemoryCategory.MOMENTS) == 0 && plan.footprint().host(MemoryCategory.MOMENTS) > 0,
                    "offloaded, the moments live on the host: " + ctx);
        }
    }

    private static TokenBatch batch(Random rng) {
        int[][] rows = new int[ROWS][TOKENS];
        for (int[] row : rows) for (int j = 0; j < TOKENS; j++) row[j] = rng.nextInt(TINY.vocabSize());
        return TokenBatch.causalLm(rows, 0);
    }
}
