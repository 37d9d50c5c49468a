package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.data.RewardBatch;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code --offload-optimizer}: the native CPU AdamW over host masters gives the device's AdamW in fp32,
 * and training with it ends with the weights of the on-device optimizer and of the CPU run.
 */
class OffloadOptimizerTest {
    private static final int STEPS = 5;
    /** Four layers take turns in the two slots of the streamed gradients; every size a multiple of 64 elements. */
    private static final LlamaConfig FOUR_LAYERS = LlamaConfig.builder().hiddenSize(64).intermediateSize(128).numLayers(4)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(Synthetic.TINY.vocabSize()).maxPositionEmbeddings(64)
            .build();

    static java.util.stream.Stream<DeviceKind> devices() {
        return DeviceKind.all();
    }

    /**
     * Three clipped updates of bf16 parameters with the same gradients: the fp32 masters of the host
     * update and of the device's agree to 2e-6 of their largest magnitude (the bias corrections and the
     * clip factor are rounded to fp32 in a different order; a wrong term shows at 1e-3 or more).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("devices")
    void theHostUpdateMatchesTheDevicesInFp32(DeviceKind device) {
        Random rng = TestSeeds.random();
        long[][] shapes = {{64, 48}, {48}, {3, 5, 7}};
        try (CudaBackend cuda = new CudaBackend(device.open()); Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> onDevice = new LinkedHashMap<>(), offloaded = new LinkedHashMap<>(), grads = new LinkedHashMap<>();
            for (int i = 0; i < shapes.length; i++) {
                String name = "w" + i;
                Tensor host = random(arena, rng, 1f, shapes[i]), g = random(arena, rng, 3f, shapes[i]);
                onDevice.put(name, upload(cuda, arena, DType.BF16, host));
                offloaded.put(name, upload(cuda, arena, DType.BF16, host));
                grads.put(name, upload(cuda, arena, DType.F32, g));
            }
            Backend.AdamW hp = new Backend.AdamW(0.9f, 0.999f, 1e-8f, 0.1f);
            try (AdamWOptimizer dev = new AdamWOptimizer(cuda, onDevice, grads, hp, n -> !n.equals("w1"), false);
                 AdamWOptimizer host = new AdamWOptimizer(cuda, offloaded, grads, hp, n -> !n.equals("w1"), true)) {
                assertFalse(dev.offloaded());
                assertTrue(host.offloaded());
                for (int step = 1; step <= 3; step++) {
                    double a = dev.step(1e-2f * step, 1f), b = host.step(1e-2f * step, 1f);
                    assertEquals(a, b, 1e-6 * a, "gradient norm of step " + step);
                    assertTrue(a > 1, "the updates are clipped: norm " + a);
                }
                for (String name : onDevice.keySet()) {
                    float[] d = cuda.download(dev.masters().get(name)), h = host.masters().get(name).toFloatArray();
                    assertTrue(maxAbsDiff(d, h) <= 2e-6 * maxAbs(d), name + ": " + maxAbsDiff(d, h) + " of " + maxAbs(d));
                    float[] dm = cuda.download(dev.moments(true).get(name)), hm = host.moments(true).get(name).toFloatArray();
                    assertTrue(maxAbsDiff(dm, hm) <= 2e-6 * maxAbs(dm), name + " second moment");
                }
            }
        }
    }

    /**
     * Five steps of full fine-tuning of a tiny LLaMA, compared by the distance between the final fp32
     * weights (the optimizer's masters on a cuda backend) relative to the change training made: the
     * offloaded optimizer against the on-device one on the same backend, at most 5e-2 (seen: 1e-7 to
     * 4e-3; a bf16 weight that rounds the other way changes the next forward, and AdamW turns tiny
     * gradient differences into whole steps; {@link #theHostUpdateMatchesTheDevicesInFp32} holds the update
     * itself to 2e-6),
     * and against the CPU run, no further than the on-device optimizer is (+1e-2) and at most 0.4 (the
     * bf16 forward against an fp32 one: typically 0.04 to 0.2).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("devices")
    void offloadedTrainingEndsWithTheWeightsOfTheOnDeviceOptimizerAndTheCpu(DeviceKind device) {
        long seed = TestSeeds.next();
        BatchSource<TokenBatch> data = Synthetic.counting(32, seed);
        Map<String, float[]> start, cpuEnd, deviceEnd, offloadEnd;
        try (CpuBackend cpu = new CpuBackend(2)) {
            start = weights(cpu, seed, false, data, 0);
            cpuEnd = weights(cpu, seed, false, data, STEPS);
        }
        try (CudaBackend cuda = new CudaBackend(device.open())) {
            deviceEnd = weights(cuda, seed, false, data, STEPS);
            offloadEnd = weights(cuda, seed, true, data, STEPS);
        }
        String ctx = device + " (seed " + seed + ")";
        for (String name : start.keySet()) {
            double moved = l2Diff(cpuEnd.get(name), start.get(name));
            assertTrue(moved > 1e-3 * l2(start.get(name)), ctx + ": " + name + " was trained");
            double vsDevice = l2Diff(offloadEnd.get(name), deviceEnd.get(name)) / moved;
            double vsCpu = l2Diff(offloadEnd.get(name), cpuEnd.get(name)) / moved;
            double deviceVsCpu = l2Diff(deviceEnd.get(name), cpuEnd.get(name)) / moved;
            System.out.printf("%s %s, of the change: offload vs device %.3g, offload vs cpu %.3g, device vs cpu %.3g%n", ctx,
                    name, vsDevice, vsCpu, deviceVsCpu);
            assertTrue(vsDevice <= 5e-2, ctx + ": " + name + " offloaded vs on the device: " + vsDevice);
            assertTrue(vsCpu <= deviceVsCpu + 1e-2 && vsCpu <= 0.4, ctx + ": " + name + " offloaded vs the cpu: " + vsCpu
                    + " (on the device: " + deviceVsCpu + ")");
        }
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> streamedSetups() {
        return DeviceKind.all().flatMap(d -> java.util.stream.Stream.of("full", "full recompute", "lora", "opt tied")
                .map(setup -> org.junit.jupiter.params.provider.Arguments.of(d, setup)));
    }

    /** A four-layer model of {@code setup}: LLaMA (with recomputation for "full recompute"), or OPT with tied embeddings. */
    private static DecoderModel fourLayers(CudaBackend cuda, String setup, long seed) {
        if (setup.equals("opt tied")) {
            OptConfig cfg = OptConfig.builder().hiddenSize(64).intermediateSize(128).numLayers(4).numHeads(2)
                    .vocabSize(Synthetic.TINY.vocabSize()).tieWordEmbeddings(true).maxPositionEmbeddings(64).build();
            return DecoderModels.initRandom(cuda, cfg, seed);
        }
        DecoderModel m = DecoderModels.initRandom(cuda, FOUR_LAYERS, seed);
        m.setRecompute(setup.equals("full recompute"));
        return m;
    }

    /**
     * Offloaded, each layer's gradients leave the device as soon as the backward completes them (the
     * last layer first, then the embeddings, final norm and head: once per micro-batch), summed on the
     * host: the device's gradient buffers are left zeroed, and the step ends with the gradient norm and
     * the masters of gradients copied once after the backward, to fp32 rounding (1e-5). Of four layers'
     * gradients the device holds two at a time, in the ring the layers take turns in: its gradient
     * bytes are two layers' plus those outside the layers (and LoRA's adapters, whose buffers stay whole).
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("streamedSetups")
    void gradientsLeaveTheDeviceLayerByLayer(DeviceKind device, String setup) {
        long seed = TestSeeds.next();
        String ctx = device + " " + setup + " (seed " + seed + ")";
        BatchSource<TokenBatch> data = Synthetic.counting(32, seed);
        List<Integer> order = new ArrayList<>();
        Map<String, float[]> byLayer = new LinkedHashMap<>(), afterBackward = new LinkedHashMap<>();
        double[] norms = new double[2];
        long streamedGradientBytes = 0, twoLayersAndTheRest = 0;
        try (CudaBackend cuda = new CudaBackend(device.open())) {
            for (int run = 0; run < 2; run++) {
                try (DecoderModel m = fourLayers(cuda, setup, seed)) {
                    TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, setup.equals("lora") ? "lora" : "full", seed);
                    // the run that copies after the backward keeps every layer's gradients: its optimizer streams none
                    try (AdamWOptimizer opt = run == 0 ? Trainer.optimizer(t, 0.1, true) : new AdamWOptimizer(cuda,
                            t.trainableParameters(), t.trainableGradients(), new Backend.AdamW(0.9f, 0.999f, 1e-8f, 0.1f),
                            t::decays, true);
                         StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, false, note -> {})) {
                        if (run == 0) {
                            t.onGradientsDone(l -> {
                                order.add(l);
                                opt.gradientsDone(l);
                            });
                        } else {
                            opt.collectByLayer(false);
                        }
                        norms[run] = runner.step(DeviceSteps.micro(data, 1, 2, 2, 16), 1, 1e-2, 1.0,
                                Trainer.dropoutSeed(seed, 1)).gradNorm();
                        if (run == 0) {
                            for (var e : t.trainableGradients().entrySet()) {
                                assertEquals(0, maxAbs(cuda.download(e.getValue())), e.getKey() + " left the device: " + ctx);
                            }
                            streamedGradientBytes = cuda.memory().live().device(MemoryCategory.GRADIENTS);
                        } else {
                            long layer0 = 0;
                            for (var e : t.trainableGradients().entrySet()) {
                                String name = e.getKey();
                                if (!name.contains(".layers.") || name.contains("lora_")) twoLayersAndTheRest += e.getValue().byteSize();
                                else if (name.contains(".layers.0.")) layer0 += e.getValue().byteSize();
                            }
                            twoLayersAndTheRest += 2 * layer0;
                            assertTrue(cuda.memory().live().device(MemoryCategory.GRADIENTS) > twoLayersAndTheRest
                                    || setup.equals("lora"), "without streaming every layer has its buffer: " + ctx);
                        }
                        Map<String, float[]> out = run == 0 ? byLayer : afterBackward;
                        opt.masters().forEach((name, w) -> out.put(name, w.toFloatArray()));
                    }
                }
            }
        }
        assertEquals(twoLayersAndTheRest, streamedGradientBytes, "device gradient bytes: two layers' and the rest: " + ctx);
        if (setup.startsWith("full")) {
            // for LLaMA in full, from the parameter shapes alone
            long layer0 = 0, outside = 0;
            for (var e : DecoderModels.parameterShapes(FOUR_LAYERS).entrySet()) {
                long bytes = Tensor.numel(e.getValue()) * Float.BYTES;
                if (e.getKey().startsWith("model.layers.0.")) layer0 += bytes;
                else if (!e.getKey().startsWith("model.layers.")) outside += bytes;
            }
            assertEquals(2 * layer0 + outside, streamedGradientBytes, ctx);
        }
        List<Integer> once = new ArrayList<>();
        for (int l = FOUR_LAYERS.numLayers() - 1; l >= -1; l--) once.add(l);
        List<Integer> expected = new ArrayList<>(once);
        expected.addAll(once);
        assertEquals(expected, order, "two micro-batches, each reporting its layers last first, then the rest: " + ctx);
        assertEquals(norms[1], norms[0], 1e-5 * norms[1], "gradient norm: " + ctx);
        for (String name : afterBackward.keySet()) {
            float[] a = byLayer.get(name), b = afterBackward.get(name);
            assertTrue(maxAbsDiff(a, b) <= 1e-5 * maxAbs(b), name + ": " + maxAbsDiff(a, b) + ": " + ctx);
        }
    }

    /**
     * A reward model (its loss computed on the host, its gradients copied after the backward) trains
     * offloaded: two steps end with the on-device optimizer's gradient norms (1e-5 at the first step,
     * 1e-3 at the second, from bf16 weights) and masters (within 5e-2 of the change the steps made, as
     * for the decoder above).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("devices")
    void aRewardModelTrainsOffloaded(DeviceKind device) {
        Random rng = TestSeeds.random();
        long seed = rng.nextLong();
        OptConfig cfg = OptConfig.builder().hiddenSize(64).intermediateSize(96).numLayers(2).numHeads(2).vocabSize(61)
                .tieWordEmbeddings(true).maxPositionEmbeddings(64).build();
        int[][] rows = new int[5][];
        for (int i = 0; i < rows.length; i++) rows[i] = rng.ints(6 + rng.nextInt(20), 0, cfg.vocabSize()).toArray();
        TokenBatch tokens = TokenBatch.causalLm(rows, 1);
        int[] last = new int[rows.length];
        for (int i = 0; i < rows.length; i++) last[i] = i * tokens.seqLen() + rows[i].length - 1;
        float[] gold = {6f, 2f, 4f, 9f, 1f};
        int[] offsets = {0, 3, 5};
        RewardBatch batch = new RewardBatch(tokens, last, gold, offsets, RewardPairs.count(gold, offsets, gold.length));
        List<Map<String, float[]>> masters = new ArrayList<>();
        List<double[]> norms = new ArrayList<>();
        Map<String, float[]> start = new LinkedHashMap<>();
        try (CudaBackend cuda = new CudaBackend(device.open())) {
            for (boolean offload : new boolean[] {false, true}) {
                try (RewardModel rm = RewardModel.initRandom(cuda, cfg, seed, 1)) {
                    RewardTraining task = new RewardTraining(rm, null, 0.1f, 0.01f);
                    try (AdamWOptimizer opt = Trainer.optimizer(task, 0.1, offload);
                         StepRunner<RewardBatch> runner = new StepRunner<>(task, opt, false, note -> {})) {
                        assertEquals(offload, opt.offloaded());
                        if (start.isEmpty()) task.trainableParameters().forEach((n, w) -> start.put(n, cuda.download(w)));
                        double[] stepNorms = new double[2];
                        for (int step = 1; step <= 2; step++) {
                            stepNorms[step - 1] = runner.step(List.of(batch), step, 1e-2, 1.0, seed + step).gradNorm();
                        }
                        norms.add(stepNorms);
                        Map<String, float[]> out = new LinkedHashMap<>();
                        opt.masters().forEach((n, w) -> out.put(n, offload ? w.toFloatArray() : cuda.download(w)));
                        masters.add(out);
                    }
                }
            }
        }
        String ctx = device + " (seed " + seed + ")";
        assertEquals(norms.get(0)[0], norms.get(1)[0], 1e-5 * norms.get(0)[0], ctx + ": gradient norm of step 1");
        // step 2 starts from weights stored in bf16: one that step 1 rounded the other way changes its forward
        assertEquals(norms.get(0)[1], norms.get(1)[1], 1e-3 * norms.get(0)[1], ctx + ": gradient norm of step 2");
        assertEquals(start.keySet(), masters.get(1).keySet(), ctx + ": a master for every trained weight");
        for (String name : start.keySet()) {
            if (Numerics.lossIgnores(name)) continue;
            double moved = l2Diff(masters.get(0).get(name), start.get(name));
            double diff = l2Diff(masters.get(1).get(name), masters.get(0).get(name));
            assertTrue(diff <= 5e-2 * moved, ctx + ": " + name + " offloaded vs on the device: " + diff + " of " + moved);
        }
    }

    /** On the CPU the flag is accepted with a note and changes nothing: the run ends with the same weights, byte for byte. */
    @Test
    void onTheCpuOffloadIsANoOpWithANote(@TempDir Path tmp) throws IOException {
        long seed = TestSeeds.next();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (CpuBackend cpu = new CpuBackend(2)) {
            for (boolean offload : new boolean[] {false, true}) {
                TrainConfig cfg = Synthetic.builder(tmp.resolve("offload-" + offload)).maxSteps(4).offloadOptimizer(offload)
                        .build().validate();
                try (DecoderModel m = DecoderModels.initRandom(cpu, Synthetic.TINY, seed)) {
                    new Trainer<>(cfg, new FullFineTune(m, null), Synthetic.counting(32, seed), null, true,
                            new PrintStream(log, true, StandardCharsets.UTF_8)).run();
                }
            }
        }
        assertEquals("--offload-optimizer: the cpu backend keeps weights and optimizer state in host memory already, so"
                + " there is nothing to offload", log.toString(StandardCharsets.UTF_8).strip());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("offload-false/final/model.safetensors")),
                Files.readAllBytes(tmp.resolve("offload-true/final/model.safetensors")));
    }

    /** The fp32 weights (the optimizer's masters where it keeps them) after {@code steps} steps of full fine-tuning. */
    private static Map<String, float[]> weights(Backend be, long seed, boolean offload, BatchSource<TokenBatch> data,
                                                int steps) {
        try (DecoderModel m = DecoderModels.initRandom(be, Synthetic.TINY, seed)) {
            TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, "full", seed);
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1, offload);
                 StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, false, note -> {})) {
                assertEquals(offload, opt.offloaded());
                for (int step = 1; step <= steps; step++) {
                    runner.step(DeviceSteps.micro(data, step, 2, 2, 16), step, DeviceSteps.lr(step) * 5, 1.0,
                            Trainer.dropoutSeed(seed, step));
                }
                Map<String, Tensor> masters = opt.masters();
                Function<String, float[]> read = name -> masters.containsKey(name)
                        ? (opt.offloaded() ? masters.get(name).toFloatArray() : be.download(masters.get(name)))
                        : be.download(t.trainableParameters().get(name));
                Map<String, float[]> out = new LinkedHashMap<>();
                for (String name : t.trainableParameters().keySet()) out.put(name, read.apply(name));
                return out;
            }
        }
    }

    private static Tensor random(Arena arena, Random rng, float scale, long... shape) {
        Tensor t = Tensor.allocate(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) rng.nextGaussian() * scale);
        return t;
    }

    private static Tensor upload(Backend be, Arena arena, DType dtype, Tensor host) {
        Tensor t = be.allocate(arena, dtype, host.shape());
        be.upload(t, host);
        return t;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
        return m;
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float x : a) m = Math.max(m, Math.abs(x));
        return m;
    }

    private static double l2Diff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double s = 0;
        for (int i = 0; i < a.length; i++) s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
        return Math.sqrt(s);
    }

    private static double l2(float[] a) {
        double s = 0;
        for (float x : a) s += (double) x * x;
        return Math.sqrt(s);
    }
}
