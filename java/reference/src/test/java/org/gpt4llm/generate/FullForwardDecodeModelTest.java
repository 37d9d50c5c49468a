package org.gpt4llm.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.reference.TorchLlama;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;

/**
 * The full-forward decoder against libtorch: at every prefill and step of a session with rows of
 * different lengths, each row's logits equal those of HF LLaMA run on that row alone (no padding).
 */
class FullForwardDecodeModelTest {
    /** GQA, odd sizes, 40 positions. */
    private static final LlamaConfig CFG = LlamaConfig.builder().hiddenSize(24).intermediateSize(37).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(29).maxPositionEmbeddings(40).build();

    @Test
    void everyRowMatchesLibtorchOnThatRowAlone() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined(); CpuBackend cpu = new CpuBackend(2)) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : TorchLlama.expectedShapes(CFG).entrySet()) {
                int n = (int) Tensor.numel(e.getValue());
                float[] v = Numerics.normal(rng, n, 0.3f);
                if (e.getValue().length == 1) for (int i = 0; i < n; i++) v[i] += 1f; // norm weights near 1
                w.put(e.getKey(), Tensor.of(arena, v, e.getValue()));
            }
            try (DecoderModel model = DecoderModels.create(cpu, CFG, w); TorchLlama ref = new TorchLlama(CFG, w, 2)) {
                DecodeModel dm = new FullForwardDecodeModel(model, 0);
                assertEquals(40, dm.maxPositions());
                assertEquals(29, dm.vocabSize());
                int[][] rows = {{1, 5, 9}, {1, 7, 3, 22, 11, 4, 8}, {1}};
                try (DecodeSession s = dm.open(3, 12)) {
                    float[][] logits = s.prefill(rows);
                    double worst = 0;
                    for (int step = 0; step < 5; step++) {
                        int[] next = new int[rows.length];
                        for (int i = 0; i < rows.length; i++) {
                            ref.forward(TokenBatch.causalLm(new int[][] {rows[i]}, 0));
                            float[] all = ref.logits();
                            float[] want = Arrays.copyOfRange(all, (rows[i].length - 1) * 29, rows[i].length * 29);
                            double err = Numerics.relErr(logits[i], want);
                            worst = Math.max(worst, err);
                            assertTrue(err < 1e-5, "seed " + seed + " step " + step + " row " + i + ": rel err " + err);
                            assertEquals(rows[i].length, s.length(i));
                            next[i] = 2 + rng.nextInt(27);
                            rows[i] = Arrays.copyOf(rows[i], rows[i].length + 1);
                            rows[i][rows[i].length - 1] = next[i];
                        }
                        logits = s.step(next);
                    }
                    System.out.printf("full-forward decoding vs libtorch per row: worst logits rel err %.2e%n", worst);
                    // row 1 now holds 12 tokens: the session is full
                    assertThrows(IllegalStateException.class, () -> s.step(new int[] {3, 3, 3}));
                }
                assertThrows(IllegalArgumentException.class, () -> dm.open(1, 41), "beyond the model's positions");
            }
        }
    }

    @Test
    void theGpuPathReadsTheSameRows() {
        // the CUDA backend (emulated: bf16 storage, device buffers) slices and downloads each row's logits
        long seed = TestSeeds.next();
        int[][] rows = {{1, 5, 9, 2}, {1, 7}, {1, 3, 3}};
        try (CpuBackend cpu = new CpuBackend(2); CudaBackend emu = new CudaBackend(new EmuDevice(2));
             DecoderModel ref = DecoderModels.initRandom(cpu, CFG, seed); DecoderModel gpu = DecoderModels.initRandom(emu, CFG, seed);
             DecodeSession a = new FullForwardDecodeModel(ref, 0).open(3, 8);
             DecodeSession b = new FullForwardDecodeModel(gpu, 0).open(3, 8)) {
            float[][] want = a.prefill(rows), got = b.prefill(rows);
            double worst = 0;
            for (int step = 0; step < 3; step++) {
                for (int i = 0; i < rows.length; i++) {
                    double err = Numerics.relErr(got[i], want[i]);
                    worst = Math.max(worst, err);
                    assertTrue(err < 3e-2, "seed " + seed + " step " + step + " row " + i + ": rel err " + err);
                }
                int[] next = {4 + step, 10 + step, 20 + step};
                want = a.step(next);
                got = b.step(next);
            }
            System.out.printf("full-forward decoding, cuda-emu vs cpu: worst logits rel err %.2e%n", worst);
        }
    }
}
