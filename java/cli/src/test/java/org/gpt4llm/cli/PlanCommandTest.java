package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;

/**
 * {@code gpt4llm plan} for LLaMA-7B (vocabulary 32000), 512 tokens, micro-batch 4, on cuda: full
 * fine-tuning needs about 122 GiB; with the optimizer offloaded and recomputation it fits 40 GiB;
 * LoRA r16 on all seven linear layers fits 24 GiB, frozen weights having no gradient buffer.
 */
class PlanCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final double GIB = 1L << 30;
    private static final LlamaConfig LLAMA_7B = LlamaConfig.preset("7b", 32000);

    private static JsonNode plan(String... flags) throws Exception {
        List<String> args = new ArrayList<>(List.of("plan", "7b", "--seq-len", "512", "--micro-batch", "4", "--backend",
                "cuda", "--json"));
        args.addAll(List.of(flags));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        JsonNode n = JSON.readTree(r.out());
        long device = 0, host = 0;
        for (MemoryCategory c : MemoryCategory.values()) {
            device += JsonChecks.integer(JsonChecks.required(n, "device"), c.key());
            host += JsonChecks.integer(JsonChecks.required(n, "host"), c.key());
        }
        assertEquals(device, JsonChecks.integer(n, "device_bytes"), "the categories add up to the device total");
        assertEquals(host, JsonChecks.integer(n, "host_bytes"), "the categories add up to the host total");
        return n;
    }

    private static long parameters() {
        long n = 0;
        for (long[] shape : DecoderModels.parameterShapes(LLAMA_7B).values()) {
            long e = 1;
            for (long s : shape) e *= s;
            n += e;
        }
        return n;
    }

    private static long device(JsonNode n, MemoryCategory c) {
        return JsonChecks.integer(JsonChecks.required(n, "device"), c.key());
    }

    private static long host(JsonNode n, MemoryCategory c) {
        return JsonChecks.integer(JsonChecks.required(n, "host"), c.key());
    }

    @Test
    void fullFineTuningOf7bNeedsAbout122GibAndDoesNotFit80() throws Exception {
        JsonNode n = plan("--gpu-memory", "80GiB");
        long p = parameters();
        assertEquals(6_738_415_616L, p, "LLaMA-7B's parameter count");
        assertEquals(2 * p, device(n, MemoryCategory.WEIGHTS), "bf16 weights");
        assertEquals(4 * p, device(n, MemoryCategory.GRADIENTS), "fp32 gradients");
        assertEquals(4 * p, device(n, MemoryCategory.MASTER_WEIGHTS), "fp32 master weights");
        assertEquals(8 * p, device(n, MemoryCategory.MOMENTS), "two fp32 moments");
        // every layer's saved activations: 2048 tokens x (6 hidden + 3 FFN wide bf16 rows) x 32 layers, and more
        assertTrue(device(n, MemoryCategory.ACTIVATIONS) > 2048L * (6 * 4096 + 3 * 11008) * 2 * 32, n.toString());
        assertEquals(2048L * 32000 * 2 + 2048L * 4, device(n, MemoryCategory.LOGITS), "bf16 logits and fp32 losses");
        double gib = JsonChecks.integer(n, "device_bytes") / GIB;
        assertTrue(gib > 118 && gib < 126, "about 122 GiB: " + gib);
        assertFalse(JsonChecks.bool(n, "fits"), n.toString());
        assertEquals(0, JsonChecks.integer(n, "host_bytes"));
    }

    @Test
    void fullFineTuningOf7bWithOffloadAndRecomputeFits40Gib() throws Exception {
        JsonNode n = plan("--offload-optimizer", "--recompute", "--gpu-memory", "40GiB");
        long p = parameters();
        assertTrue(JsonChecks.bool(n, "fits"), n.toString());
        assertTrue(JsonChecks.bool(n, "recompute") && JsonChecks.bool(n, "offload_optimizer"), n.toString());
        assertEquals(2 * p, device(n, MemoryCategory.WEIGHTS), "bf16 weights stay on the device");
        assertEquals(0, device(n, MemoryCategory.MASTER_WEIGHTS) + device(n, MemoryCategory.MOMENTS), n.toString());
        assertEquals(4 * p, host(n, MemoryCategory.MASTER_WEIGHTS), "fp32 master weights on the host");
        assertEquals(8 * p, host(n, MemoryCategory.MOMENTS), "both moments on the host");
        assertEquals(4 * p, host(n, MemoryCategory.GRADIENTS), "every gradient reaches the host");
        // two layers' fp32 gradients plus the embedding, head and final norm
        Map<String, long[]> shapes = DecoderModels.parameterShapes(LLAMA_7B);
        long layer = 0, outside = 0;
        for (var e : shapes.entrySet()) {
            long elems = 1;
            for (long s : e.getValue()) elems *= s;
            if (e.getKey().contains(".layers.0.")) layer += elems;
            else if (!e.getKey().contains(".layers.")) outside += elems;
        }
        assertEquals(4 * (2 * layer + outside), device(n, MemoryCategory.GRADIENTS), n.toString());
        // the residual stream of every layer and one layer's saved activations
        long residual = 33L * 2048 * 4096 * 2, oneLayer = 2048L * (6 * 4096 + 3 * 11008) * 2;
        long acts = device(n, MemoryCategory.ACTIVATIONS);
        assertTrue(acts > residual + oneLayer && acts < 2 * (residual + oneLayer), "activations " + acts);
        double gib = JsonChecks.integer(n, "device_bytes") / GIB;
        assertTrue(gib < 40 && gib > 12.5, "device " + gib + " GiB");
        // and the two staging buffers the gradients take turns in on their way to the host sums, each holding a
        // layer's gradients or one of those outside the layers, whichever is larger
        long largestOutside = shapes.entrySet().stream().filter(e -> !e.getKey().contains(".layers."))
                .mapToLong(e -> java.util.Arrays.stream(e.getValue()).reduce(1, Math::multiplyExact)).max().orElseThrow();
        long staging = 2 * 4 * Math.max(layer, largestOutside);
        assertEquals(staging, host(n, MemoryCategory.WORKSPACE), n.toString());
        assertEquals(16 * p + staging, JsonChecks.integer(n, "host_bytes"), "the host side: " + n);
    }

    @Test
    void loraR16OnAllSevenTargetsOf7bFits24GibWithoutFrozenGradients() throws Exception {
        JsonNode n = plan("--lora-rank", "16", "--lora-targets", String.join(",", LoraConfig.LLAMA_TARGETS),
                "--gpu-memory", "24GiB");
        long p = parameters();
        Map<String, long[]> shapes = DecoderModels.parameterShapes(LLAMA_7B);
        long adapters = 0;  // r x in + out x r per adapted layer
        for (var e : shapes.entrySet()) {
            if (e.getValue().length != 2 || !e.getKey().contains(".layers.")) continue;
            adapters += 16 * (e.getValue()[0] + e.getValue()[1]);
        }
        assertEquals(2 * p + 2 * adapters, device(n, MemoryCategory.WEIGHTS), "bf16 base weights and adapters");
        assertEquals(4 * adapters, device(n, MemoryCategory.MASTER_WEIGHTS), "fp32 masters of the adapters only");
        assertEquals(8 * adapters, device(n, MemoryCategory.MOMENTS), "moments of the adapters only");
        assertEquals(4 * adapters, device(n, MemoryCategory.GRADIENTS), "gradients of the adapters only, none for frozen weights");
        double gib = JsonChecks.integer(n, "device_bytes") / GIB;
        assertTrue(gib < 24 && gib > 12.5, "device " + gib + " GiB");
        assertTrue(JsonChecks.bool(n, "fits"), n.toString());
    }

    @Test
    void theTableShowsEveryCategoryAndTheVerdict() {
        CliRun r = CliRun.of("plan", "7b", "--backend", "cuda", "--offload-optimizer", "--recompute", "--gpu-memory", "40GiB");
        assertEquals(0, r.code(), r.err());
        for (MemoryCategory c : MemoryCategory.values()) assertTrue(r.out().contains(c.key() + " "), r.out());
        assertTrue(r.out().contains("fits in 40.00 GiB"), r.out());
    }

    @Test
    void aBadSizeOrModelIsOneSentence() {
        CliRun r = CliRun.of("plan", "7b", "--gpu-memory", "lots");
        assertEquals(2, r.code(), r.out());
        assertEquals("gpt4llm plan: --gpu-memory lots is not a size such as 40GiB, 80GB or 25769803776", r.err().strip());
        r = CliRun.of("plan", "13b");
        assertEquals(2, r.code(), r.out());
        assertEquals("gpt4llm plan: MODEL 13b is neither a model folder nor a preset (tiny, demo, small or 7b)", r.err().strip());
    }

    @Test
    void fullFineTuningOf7bOnEightGpusWithZero3PlansAtMost30GibPerGpu() throws Exception {
        JsonNode n = plan("--gpus", "8", "--zero", "3", "--gpu-memory", "30GiB");
        assertEquals(8, JsonChecks.integer(n, "gpus"));
        assertEquals(3, JsonChecks.integer(n, "zero"));
        long p = parameters();
        double gib = JsonChecks.integer(n, "device_bytes") / GIB;
        assertTrue(gib <= 30, "at most 30 GiB per GPU: " + gib);
        assertTrue(JsonChecks.bool(n, "fits"), n.toString());
        // an eighth of the weights, plus the pool of two whole layers and the embeddings and head whole: well under a quarter
        long weights = device(n, MemoryCategory.WEIGHTS);
        assertTrue(weights > 2 * p / 8 && weights < 2 * p / 4, "weights " + weights + " of " + 2 * p);
        long gradients = device(n, MemoryCategory.GRADIENTS);
        assertTrue(gradients > 4 * p / 8 && gradients < 4 * p / 4, "gradients " + gradients + " of " + 4 * p);
        // rank 0's shard of each of the 33 groups (32 layers, and what lies outside them) rounds up by under an element
        assertEquals(4 * Math.ceilDiv(p, 8), device(n, MemoryCategory.MASTER_WEIGHTS), 4 * 33, "an eighth of the masters");
        assertEquals(8 * Math.ceilDiv(p, 8), device(n, MemoryCategory.MOMENTS), 8 * 33, "an eighth of the moments");

        CliRun table = CliRun.of("plan", "7b", "--backend", "cuda", "--gpus", "8", "--zero", "3");
        assertEquals(0, table.code(), table.err());
        assertFalse(table.out().contains("not yet runnable"), table.out());
        assertTrue(table.out().contains("per device of 8, ZeRO 3"), table.out());
    }

    @Test
    void zero1And2ShardTheMastersAndMomentsAndKeepTheRestWhole() throws Exception {
        JsonNode one = plan();
        long p = parameters();
        for (int gpus : new int[] {2, 8}) {
            JsonNode z0 = plan("--gpus", String.valueOf(gpus), "--zero", "0");
            for (MemoryCategory c : List.of(MemoryCategory.WEIGHTS, MemoryCategory.GRADIENTS, MemoryCategory.MASTER_WEIGHTS,
                    MemoryCategory.MOMENTS, MemoryCategory.ACTIVATIONS, MemoryCategory.LOGITS)) {
                assertEquals(device(one, c), device(z0, c), "ZeRO 0 on " + gpus + ": every device whole, " + c.key());
            }
            assertTrue(device(z0, MemoryCategory.WORKSPACE) > device(one, MemoryCategory.WORKSPACE),
                    "the all-reduce's bucket is the one more thing: " + z0);
            for (int zero : new int[] {1, 2}) {
                JsonNode z = plan("--gpus", String.valueOf(gpus), "--zero", String.valueOf(zero));
                String ctx = "ZeRO " + zero + " on " + gpus + ": " + z;
                assertEquals(gpus, JsonChecks.integer(z, "gpus"));
                assertEquals(zero, JsonChecks.integer(z, "zero"));
                // rank 0's shard: ceil(p / gpus) elements (the last rank's is the short one)
                assertEquals(4 * Math.ceilDiv(p, gpus), device(z, MemoryCategory.MASTER_WEIGHTS), ctx);
                assertEquals(8 * Math.ceilDiv(p, gpus), device(z, MemoryCategory.MOMENTS), ctx);
                // each device's weights and gradient buffers stay full size (ZeRO 2 keeps only its shard's sums)
                assertEquals(2 * p, device(z, MemoryCategory.WEIGHTS), ctx);
                assertEquals(4 * p, device(z, MemoryCategory.GRADIENTS), ctx);
                assertEquals(device(one, MemoryCategory.ACTIVATIONS), device(z, MemoryCategory.ACTIVATIONS), ctx);
                assertTrue(JsonChecks.integer(z, "device_bytes") < JsonChecks.integer(z0, "device_bytes"), ctx);
            }
        }
        CliRun r = CliRun.of("plan", "7b", "--gpus", "2", "--zero", "4");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.err().contains("--zero must be 0, 1, 2 or 3, got 4"), r.err());
        r = CliRun.of("plan", "7b", "--gpus", "2", "--offload-optimizer");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.err().contains("--offload-optimizer with several devices needs --zero 1, 2 or 3"), r.err());
        // offloaded under ZeRO 2: each device's shard of the masters and moments on its host, whole gradients on the device
        JsonNode off = plan("--gpus", "8", "--zero", "2", "--offload-optimizer");
        String ctx = "ZeRO 2 on 8, offloaded: " + off;
        assertEquals(0, device(off, MemoryCategory.MASTER_WEIGHTS), ctx);
        assertEquals(0, device(off, MemoryCategory.MOMENTS), ctx);
        assertEquals(4 * p, device(off, MemoryCategory.GRADIENTS), ctx);
        assertEquals(4 * Math.ceilDiv(p, 8), host(off, MemoryCategory.MASTER_WEIGHTS), ctx);
        assertEquals(8 * Math.ceilDiv(p, 8), host(off, MemoryCategory.MOMENTS), ctx);
        // offloaded under ZeRO 3: each device's shard of every layer's masters and moments moves to its host, as large
        JsonNode z3 = plan("--gpus", "8", "--zero", "3"), z3off = plan("--gpus", "8", "--zero", "3", "--offload-optimizer");
        ctx = "ZeRO 3 on 8, offloaded: " + z3off;
        assertEquals(0, device(z3off, MemoryCategory.MASTER_WEIGHTS), ctx);
        assertEquals(0, device(z3off, MemoryCategory.MOMENTS), ctx);
        assertTrue(device(z3, MemoryCategory.MOMENTS) >= 8 * Math.ceilDiv(p, 8), "ZeRO 3 on 8: " + z3);
        assertEquals(device(z3, MemoryCategory.MASTER_WEIGHTS), host(z3off, MemoryCategory.MASTER_WEIGHTS), ctx);
        assertEquals(device(z3, MemoryCategory.MOMENTS), host(z3off, MemoryCategory.MOMENTS), ctx);
        assertEquals(device(z3, MemoryCategory.GRADIENTS), device(z3off, MemoryCategory.GRADIENTS), "the gradient shards stay: " + ctx);
        assertTrue(JsonChecks.integer(z3off, "device_bytes") < JsonChecks.integer(z3, "device_bytes") - 11 * Math.ceilDiv(p, 8), ctx);
    }
}
