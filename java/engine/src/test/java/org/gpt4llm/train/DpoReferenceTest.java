package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.data.DpoDataset;
import org.gpt4llm.data.Example;
import org.gpt4llm.data.PreferencePairs;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DPO's reference model. With LoRA it is the policy's own base with the adapters switched off: its
 * log-probabilities equal those of a frozen copy of the base even when the adapters are far from zero,
 * and computing them allocates no second copy of the weights (the memory ledger's peak of the weights
 * category stays at one model). A frozen copy, as full fine-tuning uses, does hold a second copy while
 * it runs. The cache is written once and read back.
 */
class DpoReferenceTest {
    private static final LlamaConfig CFG = LlamaConfig.builder().hiddenSize(32).intermediateSize(56).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(61).maxPositionEmbeddings(64).build();

    @TempDir
    Path dir;

    @Test
    void loraReferenceIsTheBaseWithoutASecondCopy() throws Exception {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        Path baseDir = dir.resolve("base");
        try (Backend be = new CpuBackend(2); DecoderModel policy = DecoderModels.initRandom(be, CFG, seed)) {
            policy.save(baseDir);
            policy.enableLora(new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj", "down_proj")), seed);
            // adapters far from zero, so that switching them off changes the log-probabilities
            try (Arena host = Arena.ofConfined()) {
                for (Map.Entry<String, Tensor> e : policy.trainableParameters().entrySet()) {
                    Tensor p = e.getValue();
                    be.upload(p, Tensor.of(host, Numerics.normal(rng, (int) p.numel(), 0.3f), p.shape()));
                }
            }
            List<PreferencePairs.Pair> pairs = pairs(rng, 7);
            DpoDataset ds = new DpoDataset(pairs, 0);
            float[] withAdapters = DpoTraining.logProbs(policy, ds.batch(all(7)).tokens());

            long weights = be.memory().live().device(MemoryCategory.WEIGHTS);
            be.memory().resetPeak();
            Map<String, DpoDataset> sets = Map.of("train", ds);
            Path run = dir.resolve("lora-run");
            List<String> notes = new ArrayList<>();
            assertEquals(false, ReferenceLogProbs.attach(run, baseDir, sets, ReferenceLogProbs.Reference.adaptersOff(policy),
                    3, notes::add));
            long peakLora = be.memory().peak().device(MemoryCategory.WEIGHTS);
            assertEquals(weights, peakLora, "the LoRA reference allocated weights: " + notes);
            float[][] lora = {ds.batch(all(7)).refChosen(), ds.batch(all(7)).refRejected()};

            // the same values from a frozen copy of the base, which does hold a second copy while it runs
            DpoDataset copyDs = new DpoDataset(pairs, 0);
            be.memory().resetPeak();
            ReferenceLogProbs.attach(dir.resolve("copy-run"), baseDir, Map.of("train", copyDs),
                    ReferenceLogProbs.Reference.frozenCopy(be, baseDir), 3, notes::add);
            long peakCopy = be.memory().peak().device(MemoryCategory.WEIGHTS);
            System.out.printf("DPO reference, weights: %d bytes live; peak %d with the LoRA base, %d with a frozen copy%n",
                    weights, peakLora, peakCopy);
            long baseBytes = policy.parameters().values().stream().mapToLong(Tensor::byteSize).sum();
            assertTrue(peakCopy >= weights + baseBytes, "a frozen copy holds a second copy of the base: " + peakCopy);
            assertEquals(weights, be.memory().live().device(MemoryCategory.WEIGHTS), "the copy is freed");
            float[][] copy = {copyDs.batch(all(7)).refChosen(), copyDs.batch(all(7)).refRejected()};
            for (int k = 0; k < 2; k++) {
                assertTrue(Numerics.relErr(lora[k], copy[k]) < 1e-6, "adapters off = the base: " + Numerics.relErr(lora[k], copy[k]));
            }
            float[] on = new float[7];
            System.arraycopy(withAdapters, 0, on, 0, 7);
            assertTrue(Numerics.relErr(on, lora[0]) > 1e-3, "the adapters matter, so the test can tell them apart");
            // the adapters are on again after the reference ran
            assertArrayEquals(withAdapters, DpoTraining.logProbs(policy, ds.batch(all(7)).tokens()));

            // the cache is read back, not computed again
            DpoDataset again = new DpoDataset(pairs, 0);
            assertTrue(ReferenceLogProbs.attach(run, baseDir, Map.of("train", again), work -> {
                throw new AssertionError("the cached reference was computed again");
            }, 3, notes::add));
            assertArrayEquals(lora[0], again.batch(all(7)).refChosen());
        }
    }

    private static int[] all(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }

    /** n pairs of random rows: a prompt of unsupervised tokens, then a response of its own length. */
    private static List<PreferencePairs.Pair> pairs(Random rng, int n) {
        List<PreferencePairs.Pair> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int prompt = 2 + rng.nextInt(5);
            out.add(new PreferencePairs.Pair(new RecordRef(Path.of("pairs.json"), i, 1), example(rng, prompt),
                    example(rng, prompt)));
        }
        return out;
    }

    private static Example example(Random rng, int prompt) {
        int n = prompt + 1 + rng.nextInt(9);
        int[] ids = new int[n], labels = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 1 + rng.nextInt(CFG.vocabSize() - 1);
            labels[i] = i < prompt ? TokenBatch.IGNORE : ids[i];
        }
        return new Example(new RecordRef(Path.of("pairs.json"), 0, 1), ids, labels, prompt);
    }
}
