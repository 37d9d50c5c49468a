package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.DecoderLayout;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.parallel.RankMemory;
import org.junit.jupiter.api.Test;

/**
 * The bytes each device sends in a step in {@code gpt4llm plan --gpus N --zero S}: for the tiny LLaMA, the
 * runtime's figure ({@link RankMemory#bytesSentPerStep}, which {@code bench step} measures) over the
 * tensors of a model built on the cpu, ZeRO 0 to 3 on 2 and 4 devices, full and LoRA, with accumulation;
 * for LLaMA-7B on 8 GPUs, the ring's bytes worked out here from the engine's parameter shapes, for the
 * Alpaca recipe's global batch of 128 in micro-batches of 4 (4 per GPU and step).
 */
class PlanTrafficTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final LlamaConfig TINY = LlamaConfig.preset("tiny", 301);
    private static final LlamaConfig LLAMA_7B = LlamaConfig.preset("7b", 32000);

    private static JsonNode plan(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("plan"));
        all.addAll(List.of(args));
        all.add("--json");
        CliRun r = CliRun.of(all.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        return JSON.readTree(r.out());
    }

    @Test
    void theTinyModelsPlannedBytesAreTheRuntimesOverItsRealTensors() throws Exception {
        LoraConfig lora = new LoraConfig(4, 16f, 0.05f, List.of("q_proj", "v_proj"));
        for (boolean withLora : new boolean[] {false, true}) {
            try (Backend be = new CpuBackend(1); DecoderModel model = DecoderModels.initRandom(be, TINY, TestSeeds.next())) {
                if (withLora) model.enableLora(lora, TestSeeds.next());
                for (int gpus : new int[] {2, 4}) {
                    // one micro-batch more than devices: two passes on the busiest device
                    int microBatch = 2, batch = microBatch * (gpus + 1);
                    for (int zero = 0; zero <= 3; zero++) {
                        List<String> args = new ArrayList<>(List.of("tiny", "--vocab", "301", "--backend", "cpu", "--seq-len",
                                "16", "--micro-batch", String.valueOf(microBatch), "--batch", String.valueOf(batch), "--gpus",
                                String.valueOf(gpus), "--zero", String.valueOf(zero)));
                        if (withLora) args.addAll(List.of("--lora-rank", "4", "--lora-targets", "q_proj,v_proj"));
                        JsonNode n = plan(args.toArray(String[]::new));
                        String ctx = (withLora ? "LoRA" : "full") + " on " + gpus + ", ZeRO " + zero + ": " + n;
                        assertEquals(2, JsonChecks.integer(n, "micro_batches_per_device"), ctx);
                        long runtime = RankMemory.bytesSentPerStep(model.trainableParameters(), model, gpus, zero,
                                DataParallel.DEFAULT_BUCKET, 2);
                        assertEquals(runtime, JsonChecks.integer(n, "planned_bytes_sent_per_rank"), ctx);
                        long onePass = RankMemory.bytesSentPerStep(model.trainableParameters(), model, gpus, zero,
                                DataParallel.DEFAULT_BUCKET, 1);
                        assertEquals(runtime - onePass, JsonChecks.integer(n, "bytes_sent_per_micro_batch"), ctx);
                        assertTrue(zero == 3 ? runtime > onePass : runtime == onePass, ctx);
                    }
                }
            }
        }
    }

    @Test
    void llama7bOnEightGpusUnderZero3SendsEachLayerThreeTimesAMicroBatch() throws Exception {
        // groups of the sharded weights: each layer, then the embeddings, final norm and head
        long[] groups = new long[LLAMA_7B.numLayers() + 1];
        DecoderModels.parameterShapes(LLAMA_7B).forEach((name, shape) -> {
            int layer = DecoderLayout.layerOf(name);
            groups[layer < 0 ? LLAMA_7B.numLayers() : layer] += Tensor.numel(shape);
        });
        // a ring of 8 sends 7/8 of a gathered buffer: 7 x 2 bytes of bf16 per element of a device's shard, and
        // of the fp32 gradients' reduce-scatter 7 x 4; each layer is gathered for its forward and its backward
        long perPass = 0;
        for (int g = 0; g < groups.length; g++) {
            long shard = Math.ceilDiv(groups[g], 8);
            perPass += (g < LLAMA_7B.numLayers() ? 2 : 1) * 14 * shard + 28 * shard;
        }
        long once = 2 * 7;  // the fp32 loss and gradient norm, all-reduced: 2 x 7/8 x 4 bytes each
        JsonNode n = plan("7b", "--seq-len", "512", "--micro-batch", "4", "--batch", "128", "--backend", "cuda", "--gpus",
                "8", "--zero", "3");
        assertEquals(4, JsonChecks.integer(n, "micro_batches_per_device"), n.toString());
        assertEquals(perPass, JsonChecks.integer(n, "bytes_sent_per_micro_batch"), n.toString());
        assertEquals(4 * perPass + once, JsonChecks.integer(n, "planned_bytes_sent_per_rank"), n.toString());
        assertEquals(186_840_600_590L, 4 * perPass + once, "about 174 GiB per GPU and step");

        CliRun table = CliRun.of("plan", "7b", "--seq-len", "512", "--micro-batch", "4", "--batch", "128", "--backend",
                "cuda", "--gpus", "8", "--zero", "3");
        assertEquals(0, table.code(), table.err());
        assertTrue(table.out().contains("per device of 8, ZeRO 3, batch 128: 4 micro-batches per device and step"),
                table.out());
        assertTrue(table.out().contains(String.format(Locale.ROOT, "sent per device and step: %,d bytes (174.01 GiB), %,d in"
                + " each of its 4 micro-batches", 4 * perPass + once, perPass)), table.out());
    }

    @Test
    void belowZero3AccumulationChangesNothing() throws Exception {
        long p = 0;
        for (long[] shape : DecoderModels.parameterShapes(LLAMA_7B).values()) p += Tensor.numel(shape);
        long shard = Math.ceilDiv(p, 8);
        // ZeRO 2: the fp32 gradients reduce-scattered and the bf16 weights all-gathered (7/8 of each), loss and norm
        long want = 28 * shard + 14 * shard + 14;
        for (String batch : new String[] {"32", "128"}) {
            JsonNode n = plan("7b", "--seq-len", "512", "--micro-batch", "4", "--batch", batch, "--backend", "cuda", "--gpus",
                    "8", "--zero", "2");
            assertEquals(want, JsonChecks.integer(n, "planned_bytes_sent_per_rank"), "--batch " + batch + ": " + n);
            assertEquals(0, JsonChecks.integer(n, "bytes_sent_per_micro_batch"), n.toString());
        }
        CliRun table = CliRun.of("plan", "7b", "--backend", "cuda", "--gpus", "8", "--zero", "2", "--batch", "128");
        assertEquals(0, table.code(), table.err());
        assertTrue(table.out().contains("all once, after the last micro-batch (the same with any accumulation)"), table.out());
        CliRun bad = CliRun.of("plan", "7b", "--micro-batch", "4", "--batch", "2", "--gpus", "2");
        assertEquals(2, bad.code(), bad.out());
        assertEquals("gpt4llm plan: --micro-batch 4 is larger than --batch 2", bad.err().strip());
    }
}
