package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.reference.TorchLlama;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.DecoderInputs;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on our LLaMA against {@link TorchLlama} with adapters built from libtorch ops (its dropout
 * masks taken from {@link LoraDropout}, the hash every backend uses): logits, loss and adapter
 * gradients to relative error below 1e-4 in fp32, with and without dropout; frozen base weights; a
 * merged model equal to base + adapter; the PEFT adapter files; AdamW over the adapters only.
 */
class LoraTest {
    private static final double TOL = 1e-4;
    private static final LlamaConfig GQA = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(97).maxPositionEmbeddings(128).build();
    private static final List<String> ALL = LoraConfig.LLAMA_TARGETS;

    @Test
    void forwardAndBackwardMatchLibtorchWithoutDropout() {
        compare(new LoraConfig(4, 8f, 0f, ALL), true);
    }

    @Test
    void forwardAndBackwardMatchLibtorchWithDropout() {
        compare(new LoraConfig(3, 6f, 0.25f, List.of("q_proj", "v_proj", "o_proj", "down_proj")), true);
    }

    @Test
    void evaluationModeHasNoDropout() {
        compare(new LoraConfig(4, 16f, 0.5f, List.of("k_proj", "gate_proj", "up_proj")), false);
    }

    private static void compare(LoraConfig lc, boolean training) {
        long seed = TestSeeds.next(), stepSeed = seed * 31 + 7;
        Random rng = new Random(seed);
        Map<String, float[]> w = LlamaModelTest.randomWeights(GQA, rng);
        TokenBatch b = LlamaModelTest.packed(13, new int[][] {{13}, {6, 7}, {10}}, GQA.vocabSize(), rng);
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel ours = DecoderModels.create(backend, GQA, LlamaModelTest.tensors(arena, GQA, w));
             TorchLlama ref = new TorchLlama(GQA, LlamaModelTest.tensors(arena, GQA, w), 2)) {
            ours.enableLora(lc, 1);
            Map<String, float[]> adapters = randomAdapters(arena, ours, rng);
            ref.enableLora(lc.rank(), lc.scale(), lc.targets(), adapters);
            if (training && lc.dropout() > 0) {
                ref.setLoraMasks((layer, target, rows, cols) -> LoraDropout.mask(
                        LoraAdapters.dropoutSeed(stepSeed, layer, ALL.indexOf(target)), rows, cols, lc.dropout()));
            }
            ours.setTraining(training);
            ours.setDropoutSeed(stepSeed);
            float lossOurs = ours.forward(b);
            float[] logitsOurs = ours.logits().toFloatArray();
            ours.backward();
            float lossRef = ref.forward(b);
            float[] logitsRef = ref.logits();
            ref.backward();

            String ctx = lc + (training ? " training" : " eval") + " (seed " + seed + ")";
            double logitsErr = Numerics.relErr(LlamaModelTest.nonPadRows(logitsOurs, b, GQA),
                    LlamaModelTest.nonPadRows(logitsRef, b, GQA));
            assertTrue(logitsErr < TOL, ctx + ": logits rel err " + logitsErr);
            assertEquals(lossRef, lossOurs, TOL * lossRef, ctx + ": loss");
            Map<String, float[]> gradsRef = ref.grads();
            assertEquals(adapters.keySet(), ours.trainableGradients().keySet(), ctx + ": adapter names");
            double worst = 0;
            for (var e : ours.trainableGradients().entrySet()) {
                double err = Numerics.relErr(e.getValue().toFloatArray(), gradsRef.get(e.getKey()));
                assertTrue(err < TOL, ctx + ": gradient of " + e.getKey() + " rel err " + err);
                worst = Math.max(worst, err);
            }
            // frozen: the base weights have no gradient buffer at all
            assertTrue(ours.gradients().isEmpty(), ctx + ": base gradients " + ours.gradients().keySet());
            System.out.printf("%s: loss %.6f vs libtorch %.6f, logits rel err %.2e, worst adapter gradient rel err %.2e%n",
                    ctx, lossOurs, lossRef, logitsErr, worst);
        }
    }

    @Test
    void freshAdaptersFollowPeftInitAndLeaveTheModelUnchanged() {
        Random rng = new Random(TestSeeds.next());
        Map<String, float[]> w = LlamaModelTest.randomWeights(GQA, rng);
        TokenBatch b = LlamaModelTest.packed(9, new int[][] {{9}, {5}}, GQA.vocabSize(), rng);
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(backend, GQA, LlamaModelTest.tensors(arena, GQA, w))) {
            float base = m.forward(b);
            m.enableLora(new LoraConfig(8, 16f, 0.1f, List.of("q_proj", "down_proj")), 42);
            assertEquals(2 * 2 * GQA.numLayers(), m.trainableParameters().size());
            m.trainableParameters().forEach((name, t) -> {
                float[] v = t.toFloatArray();
                if (name.contains("lora_B")) {
                    assertTrue(isZero(v), name + " must start at zero");
                } else {
                    double bound = 1.0 / Math.sqrt(t.dim(1)), max = 0;
                    for (float x : v) max = Math.max(max, Math.abs(x));
                    assertTrue(max <= bound && max > 0.8 * bound, name + ": max |A| " + max + " vs bound " + bound);
                }
            });
            m.setTraining(false);
            assertEquals(base, m.forward(b), 0f, "B = 0: the adapters add nothing");
        }
    }

    @Test
    void unknownTargetIsOneClearError() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(8, 16f, 0f, LoraConfig.parseTargets("q_proj,qkv_proj")));
        assertEquals("--lora-targets: qkv_proj is not a linear layer of LLaMA (q_proj, k_proj, v_proj, o_proj, gate_proj,"
                + " up_proj, down_proj) or OPT (q_proj, k_proj, v_proj, out_proj, fc1, fc2)", e.getMessage());
    }

    @Test
    void mergedModelGivesTheLogitsOfBasePlusAdapter() {
        Random rng = new Random(TestSeeds.next());
        Map<String, float[]> w = LlamaModelTest.randomWeights(GQA, rng);
        TokenBatch b = LlamaModelTest.packed(13, new int[][] {{13}, {4, 9}}, GQA.vocabSize(), rng);
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(backend, GQA, LlamaModelTest.tensors(arena, GQA, w))) {
            m.enableLora(new LoraConfig(4, 8f, 0.3f, ALL), 3);
            randomAdapters(arena, m, rng);
            m.setTraining(false);
            m.forward(b);
            float[] withAdapter = LlamaModelTest.nonPadRows(m.logits().toFloatArray(), b, GQA);
            m.mergeLora();
            assertTrue(m.loraConfig() == null && m.trainableParameters().equals(m.parameters()));
            m.forward(b);
            double err = Numerics.relErr(LlamaModelTest.nonPadRows(m.logits().toFloatArray(), b, GQA), withAdapter);
            assertTrue(err < 1e-5, "merged logits rel err " + err);
            System.out.printf("merged vs base + adapter: logits rel err %.2e%n", err);
        }
    }

    @Test
    void adapterFolderRoundTripsBitIdentically(@TempDir Path dir) throws IOException {
        Random rng = new Random(TestSeeds.next());
        LoraConfig lc = new LoraConfig(4, 8f, 0.05f, List.of("v_proj", "q_proj", "up_proj"));
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel a = DecoderModels.initRandom(backend, GQA, 1);
             DecoderModel b = DecoderModels.initRandom(backend, GQA, 1)) {
            a.enableLora(lc, 5);
            randomAdapters(arena, a, rng);
            a.saveAdapter(dir, "some/base-model");
            JsonNode c = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
            assertEquals("LORA", c.get("peft_type").asText());
            assertEquals("CAUSAL_LM", c.get("task_type").asText());
            assertEquals(4, c.get("r").asInt());
            assertEquals(8.0, c.get("lora_alpha").asDouble());
            assertEquals(0.05f, (float) c.get("lora_dropout").asDouble());
            assertEquals("[\"v_proj\",\"q_proj\",\"up_proj\"]", c.get("target_modules").toString());
            assertEquals("none", c.get("bias").asText());
            assertFalse(c.get("fan_in_fan_out").asBoolean());
            assertEquals("some/base-model", c.get("base_model_name_or_path").asText());
            try (Arena map = Arena.ofConfined()) {
                SafeTensors st = SafeTensors.open(dir.resolve("adapter_model.safetensors"), map);
                assertArrayEquals(new long[] {4, 40},
                        st.info("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight").shape());
                assertArrayEquals(new long[] {70, 4}, st.info("base_model.model.model.layers.0.mlp.up_proj.lora_B.weight").shape());
            }
            b.loadAdapter(dir);
            assertEquals(lc, b.loraConfig());
            assertEquals(a.trainableParameters().keySet(), b.trainableParameters().keySet());
            a.trainableParameters().forEach((name, t) ->
                    assertArrayEquals(t.toFloatArray(), b.trainableParameters().get(name).toFloatArray(), name));
        }
    }

    /** A folder as PEFT writes it (its adapter_config.json fields, F16 tensors, targets in set order). */
    @Test
    void loadsAnAdapterWrittenByPeft(@TempDir Path dir) throws IOException {
        Random rng = new Random(TestSeeds.next());
        Files.writeString(dir.resolve("adapter_config.json"), """
                {
                  "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "huggyllama/llama-7b",
                  "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
                  "layers_pattern": null, "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 16,
                  "lora_dropout": 0.05, "megatron_config": null, "megatron_core": "megatron.core",
                  "modules_to_save": null, "peft_type": "LORA", "r": 8, "rank_pattern": {}, "revision": null,
                  "target_modules": ["v_proj", "q_proj"], "task_type": "CAUSAL_LM", "use_dora": false,
                  "use_rslora": false
                }
                """);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2)) {
            for (int l = 0; l < GQA.numLayers(); l++) {
                for (String t : List.of("q_proj", "v_proj")) {
                    String base = "base_model.model.model.layers." + l + ".self_attn." + t;
                    long out = t.equals("q_proj") ? GQA.hiddenSize() : GQA.kvDim();
                    for (var e : Map.of(".lora_A.weight", new long[] {8, GQA.hiddenSize()}, ".lora_B.weight",
                            new long[] {out, 8}).entrySet()) {
                        float[] v = Numerics.normal(rng, (int) Tensor.numel(e.getValue()), 0.1f);
                        Tensor f16 = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F16, e.getValue());
                        backend.convert(f16, Tensor.of(arena, v, e.getValue()));
                        tensors.put(base + e.getKey(), f16);
                        Tensor back = Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, e.getValue());
                        backend.convert(back, f16);
                        values.put(base + e.getKey(), back.toFloatArray());
                    }
                }
            }
            SafeTensors.write(dir.resolve("adapter_model.safetensors"), tensors, Map.of("format", "pt"));
            try (DecoderModel m = DecoderModels.initRandom(backend, GQA, 1)) {
                m.loadAdapter(dir);
                assertEquals(new LoraConfig(8, 16f, 0.05f, List.of("v_proj", "q_proj")), m.loraConfig());
                assertEquals(values.keySet(), new java.util.HashSet<>(m.trainableParameters().keySet()));
                values.forEach((name, v) -> assertArrayEquals(v, m.trainableParameters().get(name).toFloatArray(), name));
            }
        }
    }

    @Test
    void badAdapterFoldersAreClearErrors(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel a = DecoderModels.initRandom(backend, GQA, 1)) {
            var e = assertThrows(IOException.class, () -> a.loadAdapter(dir));
            assertEquals(dir + " has no adapter_config.json: not a PEFT adapter folder", e.getMessage());
            a.enableLora(new LoraConfig(4, 8f, 0f, List.of("q_proj")), 1);
            a.saveAdapter(dir, "base");
            Path weights = dir.resolve("adapter_model.safetensors");
            // a tensor with the wrong shape
            Map<String, Tensor> t = new LinkedHashMap<>();
            a.trainableParameters().forEach((name, v) -> t.put(name, v));
            String first = t.keySet().iterator().next();
            t.put(first, Tensor.allocate(arena, org.gpt4llm.tensor.DType.F32, 4, 39));
            SafeTensors.write(weights, t, null);
            try (DecoderModel b = DecoderModels.initRandom(backend, GQA, 1)) {
                e = assertThrows(IOException.class, () -> b.loadAdapter(dir));
                assertEquals(weights + ": tensor " + first + " has shape [4, 39] but the model needs [4, 40]", e.getMessage());
            }
            t.remove(first);
            SafeTensors.write(weights, t, null);
            try (DecoderModel b = DecoderModels.initRandom(backend, GQA, 1)) {
                e = assertThrows(IOException.class, () -> b.loadAdapter(dir));
                assertEquals(weights + ": tensor " + first + " is missing", e.getMessage());
            }
            Files.delete(weights);
            try (DecoderModel b = DecoderModels.initRandom(backend, GQA, 1)) {
                e = assertThrows(IOException.class, () -> b.loadAdapter(dir));
                assertEquals(dir + " has no adapter_model.safetensors", e.getMessage());
            }
        }
    }

    @Test
    void adamWStepsChangeOnlyTheAdaptersAsLibtorchDoes() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        LoraConfig lc = new LoraConfig(4, 8f, 0f, ALL);
        Backend.AdamW hp = new Backend.AdamW(0.9f, 0.95f, 1e-5f, 0.1f);
        Map<String, float[]> w = LlamaModelTest.randomWeights(GQA, rng);
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel ours = DecoderModels.create(backend, GQA, LlamaModelTest.tensors(arena, GQA, w));
             TorchLlama ref = new TorchLlama(GQA, LlamaModelTest.tensors(arena, GQA, w), 2)) {
            ours.enableLora(lc, 9);
            Map<String, float[]> adapters = randomAdapters(arena, ours, rng);
            ref.enableLora(lc.rank(), lc.scale(), lc.targets(), adapters);
            ref.useAdamW(hp.beta1(), hp.beta2(), hp.eps(), hp.weightDecay());
            try (AdamWOptimizer opt = new AdamWOptimizer(backend, ours.trainableParameters(), ours.trainableGradients(), hp)) {
                for (int step = 1; step <= 3; step++) {
                    TokenBatch b = LlamaModelTest.packed(13, new int[][] {{13}, {6, 7}}, GQA.vocabSize(), rng);
                    ours.zeroGrad();
                    ours.forward(b);
                    ours.backward();
                    ref.forward(b);
                    ref.backward();
                    double norm = opt.step(2e-3f, 1f), refNorm = ref.step(2e-3f, 1f);
                    assertEquals(refNorm, norm, TOL * refNorm, "seed " + seed + ": step " + step + " grad norm");
                }
            }
            Map<String, float[]> after = ref.parameters();
            ours.parameters().forEach((name, t) ->
                    assertArrayEquals(w.get(name), t.toFloatArray(), "seed " + seed + ": frozen " + name + " changed"));
            ours.trainableParameters().forEach((name, t) -> {
                float[] v = t.toFloatArray();
                assertFalse(java.util.Arrays.equals(adapters.get(name), v), name + " did not move");
                double err = Numerics.relErr(v, after.get(name));
                assertTrue(err < TOL, "seed " + seed + ": " + name + " after 3 steps rel err " + err);
            });
        }
    }

    // ---- OPT ----

    private static final OptConfig OPT = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2)
            .numHeads(3).vocabSize(53).tieWordEmbeddings(false).maxPositionEmbeddings(32).build();
    private static final List<String> OPT_TARGETS = List.of("q_proj", "out_proj", "fc1", "fc2");

    /** Fresh adapters (B = 0) change nothing, even with dropout on; one backward reaches every B and no A. */
    @Test
    void freshOptAdaptersLeaveTheLossAndGetGradientsOnB() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        Map<String, float[]> w = DecoderInputs.optWeights(OPT, rng);
        TokenBatch b = LlamaModelTest.packed(13, new int[][] {{13}, {6, 7}}, OPT.vocabSize(), rng);
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(backend, OPT, LlamaModelTest.tensors(arena, OPT, w))) {
            float base = m.forward(b);
            m.enableLora(new LoraConfig(4, 8f, 0.2f, OPT_TARGETS), seed);
            assertEquals(2 * OPT_TARGETS.size() * OPT.numLayers(), m.trainableParameters().size());
            m.setDropoutSeed(seed);
            assertEquals(base, m.forward(b), 0f, "seed " + seed + ": B = 0: the adapters add nothing");
            m.backward();
            m.trainableGradients().forEach((name, g) -> {
                assertTrue(name.startsWith("base_model.model.model.decoder.layers."), name);
                boolean isB = name.endsWith("lora_B.weight");
                // d/dA goes through B = 0; d/dB through A x, which is not
                assertEquals(!isB, isZero(g.toFloatArray()), "seed " + seed + ": gradient of " + name
                        + (isB ? " is zero" : " is not zero"));
            });
            m.gradients().forEach((name, g) -> {
                if (g.rank() == 2) assertTrue(isZero(g.toFloatArray()), "seed " + seed + ": frozen " + name + " got a gradient");
            });
        }
    }

    /**
     * With W' = W + s B A, the loss through the adapters is the loss of the merged model, so the
     * adapters' gradients are dL/dB = s G Aᵀ and dL/dA = s Bᵀ G, with G the merged model's gradient of W'
     * (which {@code OptModelTest} checks against libtorch); the merged model's logits are those of the
     * unmerged one.
     */
    @Test
    void optAdapterGradientsAndMergeFollowTheMergedModel() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        LoraConfig lc = new LoraConfig(3, 7f, 0f, OPT_TARGETS);
        Map<String, float[]> w = DecoderInputs.optWeights(OPT, rng);
        TokenBatch b = LlamaModelTest.packed(13, new int[][] {{13}, {4, 9}, {8}}, OPT.vocabSize(), rng);
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(backend, OPT, LlamaModelTest.tensors(arena, OPT, w))) {
            m.enableLora(lc, seed);
            Map<String, float[]> adapters = randomAdapters(arena, m, rng);
            m.zeroGrad();
            float loss = m.forward(b);
            float[] logits = LlamaModelTest.nonPadRows(m.logits().toFloatArray(), b, OPT);
            m.backward();
            Map<String, float[]> adapterGrads = new LinkedHashMap<>();
            m.trainableGradients().forEach((name, g) -> adapterGrads.put(name, g.toFloatArray()));

            m.mergeLora();
            m.zeroGrad();
            float mergedLoss = m.forward(b);
            double logitsErr = Numerics.relErr(LlamaModelTest.nonPadRows(m.logits().toFloatArray(), b, OPT), logits);
            assertTrue(logitsErr < 1e-5, "seed " + seed + ": merged logits rel err " + logitsErr);
            assertEquals(loss, mergedLoss, 1e-5 * loss, "seed " + seed + ": merged loss");
            m.backward();
            double worst = 0;
            for (var e : adapterGrads.entrySet()) {
                String name = e.getKey();
                boolean isA = name.endsWith(".lora_A.weight");
                String module = name.substring("base_model.model.".length(), name.length() - ".lora_A.weight".length());
                String pair = "base_model.model." + module + (isA ? ".lora_B.weight" : ".lora_A.weight");
                Tensor g = m.gradients().get(module + ".weight");
                int out = (int) g.dim(0), in = (int) g.dim(1), r = lc.rank();
                float[] gw = g.toFloatArray(), other = adapters.get(pair), want = new float[e.getValue().length];
                for (int i = 0; i < (isA ? r : out); i++) {
                    for (int j = 0; j < (isA ? in : r); j++) {
                        double sum = 0;
                        // A [r, in]: s Σ_o B[o, i] G[o, j];  B [out, r]: s Σ_k G[i, k] A[j, k]
                        if (isA) for (int o = 0; o < out; o++) sum += (double) other[o * r + i] * gw[o * in + j];
                        else for (int k = 0; k < in; k++) sum += (double) gw[i * in + k] * other[j * in + k];
                        want[i * (isA ? in : r) + j] = (float) (lc.scale() * sum);
                    }
                }
                double err = Numerics.relErr(e.getValue(), want);
                assertTrue(err < 1e-4, "seed " + seed + ": gradient of " + name + " rel err " + err);
                worst = Math.max(worst, err);
            }
            System.out.printf("opt LoRA: merged logits rel err %.2e, worst adapter gradient vs projected merged gradient %.2e%n",
                    logitsErr, worst);
        }
    }

    @Test
    void llamaTargetOnOptIsOneClearError() {
        try (CpuBackend backend = new CpuBackend(2); DecoderModel m = DecoderModels.initRandom(backend, OPT, 1)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> m.enableLora(new LoraConfig(4, 8f, 0f, List.of("q_proj", "gate_proj")), 1));
            assertEquals("--lora-targets: gate_proj is not a linear layer of a opt model (q_proj, k_proj, v_proj, out_proj,"
                    + " fc1, fc2)", e.getMessage());
            assertEquals(null, m.loraConfig(), "a refused LoRA config leaves the model as it was");
        }
    }

    /** Fills every adapter (A and B) with normal(0, 0.2) values, so that both get non-trivial gradients. */
    private static Map<String, float[]> randomAdapters(Arena arena, DecoderModel m, Random rng) {
        Map<String, float[]> values = new LinkedHashMap<>();
        m.trainableParameters().forEach((name, t) -> {
            float[] v = Numerics.normal(rng, (int) t.numel(), 0.2f);
            m.backend().upload(t, Tensor.of(arena, v, t.shape()));
            values.put(name, v);
        });
        return values;
    }

    private static boolean isZero(float[] v) {
        for (float x : v) if (x != 0f) return false;
        return true;
    }
}
