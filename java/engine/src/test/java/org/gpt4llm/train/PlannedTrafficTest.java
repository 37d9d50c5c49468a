package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.MeteredCommunicator;
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
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.parallel.LocalGroup;
import org.gpt4llm.train.parallel.RankMemory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Planned against measured communication with gradient accumulation: a step of the tiny LLaMA on 2 and 3
 * cpu devices with one micro-batch more than devices (so one device runs two passes and the others one),
 * ZeRO 0 to 3, full fine-tuning and LoRA, with the default bucket and with buckets of 1001 elements (many
 * collectives, a short last one). Each rank's bytes, counted from the collectives it called, are
 * {@link RankMemory#bytesSentPerStep} for two passes, and the plan's for a global batch of that many
 * micro-batches; below ZeRO 3 the figure does not depend on the passes, under ZeRO 3 every rank sends the
 * second pass's gathers too (the ranks with one micro-batch run an idle pass).
 */
class PlannedTrafficTest {
    private static final LlamaConfig TINY = LlamaConfig.preset("tiny", 256);
    private static final int ROWS = 2, TOKENS = 16, PASSES = 2;
    private static final LoraConfig LORA = new LoraConfig(4, 16f, 0f, LoraConfig.LLAMA_TARGETS);

    static Stream<Arguments> grid() {
        List<Arguments> cells = new ArrayList<>();
        for (int zero = 0; zero <= 3; zero++) {
            for (String mode : List.of("full", "lora")) {
                cells.add(Arguments.of(2, zero, mode, DataParallel.DEFAULT_BUCKET));
                cells.add(Arguments.of(3, zero, mode, 1001L));
            }
        }
        return cells.stream();
    }

    @ParameterizedTest(name = "{0} devices, zero {1} {2}, bucket {3}")
    @MethodSource("grid")
    void eachRankSendsWhatIsPlanned(int ranks, int zero, String mode, long bucket) {
        long seed = TestSeeds.next();
        LoraConfig lora = mode.equals("lora") ? LORA : null;
        List<Backend> bes = new ArrayList<>();
        List<DecoderModel> models = new ArrayList<>();
        List<TrainableModel<TokenBatch>> replicas = new ArrayList<>();
        long[] sent = new long[ranks];
        long planned, plannedOnePass;
        try {
            for (int r = 0; r < ranks; r++) {
                Backend be = new CpuBackend(1);
                bes.add(be);
                DecoderModel m = DecoderModels.initRandom(be, TINY, seed);
                models.add(m);
                if (lora != null) m.enableLora(lora, seed + 1);
                replicas.add(lora == null ? new FullFineTune(m, null) : new LoraFineTune(m, null));
            }
            // the shapes, read before ZeRO 3 makes the weights views into its pool
            planned = RankMemory.bytesSentPerStep(replicas.get(0).trainableParameters(), models.get(0), ranks, zero, bucket,
                    PASSES);
            plannedOnePass = RankMemory.bytesSentPerStep(replicas.get(0).trainableParameters(), models.get(0), ranks, zero,
                    bucket, 1);
            List<MeteredCommunicator> meters = new ArrayList<>();
            for (Communicator c : LocalGroup.open(bes, DataParallel.DEFAULT_TIMEOUT)) meters.add(new MeteredCommunicator(c));
            DataParallel<TokenBatch> dp = new DataParallel<>(replicas, List.copyOf(meters), zero, bucket);
            try (AdamWOptimizer opt = dp.optimizer(replicas.get(0), 0.0, false);
                 StepEngine<TokenBatch> engine = dp.open(replicas.get(0), opt, false, note -> {})) {
                Random rng = TestSeeds.random();
                List<TokenBatch> micro = new ArrayList<>();
                for (int i = 0; i < ranks + 1; i++) micro.add(batch(rng));
                for (MeteredCommunicator m : meters) m.reset();
                Trainer.Step s = engine.step(micro, 1, 1e-3, 1.0, Trainer.dropoutSeed(seed, 1));
                assertTrue(Double.isFinite(s.loss()) && s.loss() > 0, s.toString());
                for (int r = 0; r < ranks; r++) sent[r] = meters.get(r).bytesSent();
            }
        } finally {
            for (DecoderModel m : models) m.close();
            for (Backend be : bes) be.close();
        }
        String ctx = ranks + " devices, zero " + zero + " " + mode + ", bucket " + bucket + " (seed " + seed + "): sent "
                + java.util.Arrays.toString(sent) + ", planned " + planned + " (" + plannedOnePass + " for one pass)";
        System.out.println(ctx);
        for (int r = 0; r < ranks; r++) assertEquals(planned, sent[r], "rank " + r + ": " + ctx);
        if (zero < 3) assertEquals(plannedOnePass, planned, "once a step, whatever the accumulation: " + ctx);
        else assertTrue(planned > plannedOnePass, "every pass gathers the layers: " + ctx);
        if (bucket == DataParallel.DEFAULT_BUCKET) {
            // the planner, from the shapes alone, for a global batch of that many micro-batches
            MemoryPlan plan = MemoryPlanner.plan(new PlanRequest(TINY, "cpu", TOKENS, ROWS, lora, false, false, ranks, zero,
                    (ranks + 1) * ROWS));
            assertEquals(PASSES, plan.request().microBatchesPerDevice(), ctx);
            assertEquals(planned, plan.bytesSentPerStep(), "the plan: " + ctx);
        }
    }

    private static TokenBatch batch(Random rng) {
        int[][] rows = new int[ROWS][TOKENS];
        for (int[] row : rows) for (int j = 0; j < TOKENS; j++) row[j] = rng.nextInt(TINY.vocabSize());
        return TokenBatch.causalLm(rows, 0);
    }
}
