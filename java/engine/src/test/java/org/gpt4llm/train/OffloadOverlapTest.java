package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.DeviceCounters;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.model.DecoderLayout;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Offloaded, a layer's gradients go to the host on the device's copy stream while the backward goes on:
 * every layer's hook queues its copies (one per gradient) between two events and no synchronous copy or
 * wait for the whole device, and the host waits only for the copy of the layer before (lazily). The host
 * sums are those of copying each layer synchronously as the backward completes it, bit for bit.
 */
class OffloadOverlapTest {
    private static final LlamaConfig FOUR_LAYERS = LlamaConfig.builder().hiddenSize(64).intermediateSize(128).numLayers(4)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(Synthetic.TINY.vocabSize()).maxPositionEmbeddings(64)
            .build();
    private static final int MICRO_BATCHES = 2;

    static java.util.stream.Stream<Arguments> setups() {
        return DeviceKind.all().flatMap(d -> java.util.stream.Stream.of("full", "lora").map(s -> Arguments.of(d, s)));
    }

    /** What one hook call did on the device, for layer {@code layer} of micro-batch {@code micro}. */
    private record HookWork(int micro, int layer, DeviceCounters did) {}

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("setups")
    void copiesRunBesideTheBackwardAndSumAsTheSynchronousCopies(DeviceKind kind, String setup) {
        long seed = TestSeeds.next();
        String ctx = kind + " " + setup + " (seed " + seed + ")";
        BatchSource<TokenBatch> data = Synthetic.counting(32, seed);
        List<TokenBatch> micro = DeviceSteps.micro(data, 1, MICRO_BATCHES, 2, 16);
        Map<String, float[]> overlapped = new LinkedHashMap<>(), synchronous = new LinkedHashMap<>();
        List<HookWork> work = new ArrayList<>();
        Map<Integer, Integer> gradsOfLayer = new LinkedHashMap<>();
        try (CudaBackend cuda = new CudaBackend(kind.open()); DecoderModel m = DecoderModels.initRandom(cuda, FOUR_LAYERS, seed)) {
            Device device = cuda.device();
            TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, setup, seed);
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1, true);
                 StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, false, note -> {})) {
                Map<String, Tensor> grads = t.trainableGradients();
                grads.forEach((n, g) -> {
                    gradsOfLayer.merge(DecoderLayout.layerOf(n), 1, Integer::sum);
                    synchronous.put(n, new float[(int) g.numel()]);
                });
                int[] microOf = {-1};
                t.onGradientsDone(l -> {
                    if (l == FOUR_LAYERS.numLayers() - 1) microOf[0]++;
                    // the synchronous path on the same values (the backward's atomics may sum in another order in
                    // another run): each gradient read back and added as the backward completes its layer
                    grads.forEach((name, g) -> {
                        if (DecoderLayout.layerOf(name) != l) return;
                        float[] values = cuda.download(g), sum = synchronous.get(name);
                        for (int i = 0; i < sum.length; i++) sum[i] += values[i];
                    });
                    DeviceCounters before = device.counters();
                    opt.gradientsDone(l);
                    work.add(new HookWork(microOf[0], l, device.counters().minus(before)));
                });
                runner.step(micro, 1, 1e-2, 1.0, Trainer.dropoutSeed(seed, 1));
                opt.gradientSums().forEach((name, s) -> overlapped.put(name, s.toFloatArray()));
                for (var e : grads.entrySet()) {
                    assertEquals(0, maxAbs(cuda.download(e.getValue())), e.getKey() + " is zeroed on the device: " + ctx);
                }
            }
        }
        assertEquals(synchronous.keySet(), overlapped.keySet(), ctx);
        assertTrue(synchronous.values().stream().mapToDouble(OffloadOverlapTest::maxAbs).max().orElse(0) > 0, "gradients: " + ctx);
        for (String name : synchronous.keySet()) {
            float[] a = overlapped.get(name), b = synchronous.get(name);
            assertArrayEquals(b, a, name + " summed over " + MICRO_BATCHES + " micro-batches, bit for bit: " + ctx);
        }
        // a unit is a decoder layer's gradients, or one gradient outside the layers
        int units = 0, grads = 0;
        for (var e : gradsOfLayer.entrySet()) {
            units += e.getKey() >= 0 ? 1 : e.getValue();
            grads += e.getValue();
        }
        assertEquals(MICRO_BATCHES * (FOUR_LAYERS.numLayers() + 1), work.size(), ctx);
        for (int mb = 0; mb < MICRO_BATCHES; mb++) {
            DeviceCounters sum = DeviceCounters.ZERO;
            for (HookWork w : work) {
                if (w.micro() != mb) continue;
                DeviceCounters d = w.did();
                String at = ctx + ", micro-batch " + mb + ", layer " + w.layer() + ": " + d;
                assertEquals(0, d.synchronizations(), "no wait for the whole device: " + at);
                assertEquals(0, d.downloads(), "no synchronous copy: " + at);
                assertEquals(0, d.launches() + d.gemms(), at);
                int own = gradsOfLayer.getOrDefault(w.layer(), 0);
                assertEquals(own, d.asyncDownloads(), "one copy per gradient of the layer: " + at);
                assertEquals(own, d.memsets(), "each zeroed behind its copy: " + at);
                if (w.layer() >= 0) {
                    assertEquals(2, d.eventRecords(), "the backward's event and the copy's: " + at);
                    boolean first = mb == 0 && w.layer() == FOUR_LAYERS.numLayers() - 1;
                    assertEquals(first ? 0 : 1, d.eventWaits(), "the host waits for the layer before only: " + at);
                }
                sum = new DeviceCounters(sum.launches(), sum.gemms(), 0, sum.synchronizations() + d.synchronizations(), 0, 0, 0, 0,
                        0, 0, 0, sum.memsets() + d.memsets(), sum.asyncDownloads() + d.asyncDownloads(),
                        sum.asyncDownloadBytes() + d.asyncDownloadBytes(), sum.eventRecords() + d.eventRecords(),
                        sum.streamWaits() + d.streamWaits(), sum.eventWaits() + d.eventWaits());
            }
            String at = ctx + ", micro-batch " + mb + ": " + sum;
            assertEquals(grads, sum.asyncDownloads(), at);
            assertEquals(2L * units, sum.eventRecords(), "two events per unit: " + at);
            assertEquals(2L * units, sum.streamWaits(), "the copy after the backward, the backward after the copy: " + at);
            // the last unit of a micro-batch is added when the next comes (or when the update reads the sums)
            assertEquals(mb == 0 ? units - 1 : units, sum.eventWaits(), at);
        }
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }
}
