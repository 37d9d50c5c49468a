package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.contract.Target;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.DecoderInputs;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Incremental decoding with a KV cache ({@link KvCacheSession}) against the full forward of the same
 * sequences ({@link DecoderModel#forward} then {@link DecoderModel#logits}): after the prefill of three
 * prompts of different lengths and after each of several steps, every row's next-token logits equal
 * the full forward's logits at that row's last token. LLaMA (GQA, rotary) and OPT (learned
 * positions, biases, LayerNorm), with and without a LoRA adapter, on the cpu backend (fp32, relative
 * error below {@value #CPU_TOL}, {@value #LORA_CPU_TOL} with random adapters: only the order of the sums
 * differs) and on each backend that runs the CUDA kernels, cuda-emu and cuda where a GPU is present
 * (bf16 activations: the two attention kernels differ in fp32 rounding, which flips a bf16 rounding
 * now and then; 0 to 1.1e-3 observed on cuda-emu, below {@value #BF16_TOL}; a wrong position, mask or
 * cache row gives errors of order 1).
 */
class DecodeSessionTest {
    static final double CPU_TOL = 1e-5, BF16_TOL = 1e-2;
    /**
     * With random adapters (A, B ~ N(0, 0.3), scaled by alpha/r = 2) every adapted layer's weights are
     * several times the base's, and the two summation orders' rounding grows through them: over 150
     * seeds the LLaMA errors had median 2.5e-6, 4% above 1e-5 and a largest of 2.1e-5.
     */
    static final double LORA_CPU_TOL = 1e-4;
    private static final LlamaConfig GQA = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(97).maxPositionEmbeddings(128).build();
    private static final OptConfig OPT = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2)
            .numHeads(3).vocabSize(53).tieWordEmbeddings(false).maxPositionEmbeddings(32).build();
    /** Head dim 32 on the GPU path, 2 query heads per kv head. */
    private static final LlamaConfig GPU_GQA = LlamaConfig.builder().hiddenSize(128).intermediateSize(176).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(97).maxPositionEmbeddings(64).build();
    private static final int[] PROMPTS = {7, 1, 12};
    /** Steps after the prefill: enough to cross the longest prompt on the cpu, fewer where the emulation is slow. */
    private static final int STEPS = 4, EMU_STEPS = 2;

    @Test
    void llamaMatchesTheFullForward() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined(); CpuBackend be = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(be, GQA, LlamaModelTest.tensors(arena, GQA, LlamaModelTest.randomWeights(GQA, rng)))) {
            decodingMatchesTheFullForward(m, rng, STEPS, CPU_TOL, "cpu", "seed " + seed + ", llama");
        }
    }

    @Test
    void optMatchesTheFullForward() {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined(); CpuBackend be = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(be, OPT, LlamaModelTest.tensors(arena, OPT, DecoderInputs.optWeights(OPT, rng)))) {
            decodingMatchesTheFullForward(m, rng, STEPS, CPU_TOL, "cpu", "seed " + seed + ", opt");
        }
    }

    /** Adapters with random A and B (dropout configured, which decoding must not apply), saved then loaded. */
    @Test
    void loadedLoraAdaptersTakePart(@TempDir Path dir) throws Exception {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        record Arch(ModelConfig cfg, Map<String, float[]> weights, List<String> targets) {}
        List<Arch> archs = List.of(
                new Arch(GQA, LlamaModelTest.randomWeights(GQA, rng), LoraConfig.LLAMA_TARGETS),
                new Arch(OPT, DecoderInputs.optWeights(OPT, rng), List.of("q_proj", "v_proj", "out_proj", "fc1", "fc2")));
        for (Arch a : archs) {
            Path adapter = dir.resolve(a.cfg.modelType());
            try (Arena arena = Arena.ofConfined(); CpuBackend be = new CpuBackend(2)) {
                try (DecoderModel trained = DecoderModels.create(be, a.cfg, LlamaModelTest.tensors(arena, a.cfg, a.weights))) {
                    trained.enableLora(new LoraConfig(4, 8f, 0.3f, a.targets), seed);
                    for (Tensor t : trained.trainableParameters().values()) {
                        be.upload(t, Tensor.of(arena, Numerics.normal(rng, (int) t.numel(), 0.3f), t.shape()));
                    }
                    trained.saveAdapter(adapter, "base");
                }
                try (DecoderModel m = DecoderModels.create(be, a.cfg, LlamaModelTest.tensors(arena, a.cfg, a.weights))) {
                    m.loadAdapter(adapter);
                    decodingMatchesTheFullForward(m, rng, STEPS, LORA_CPU_TOL, "cpu",
                            "seed " + seed + ", " + a.cfg.modelType() + " + LoRA");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void llamaOnCudaBackendsMatchesItsFullForward(Target t) {
        cudaKindMatches(t, GPU_GQA, rng -> LlamaModelTest.randomWeights(GPU_GQA, rng), "llama");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void optOnCudaBackendsMatchesItsFullForward(Target t) {
        cudaKindMatches(t, OPT, rng -> DecoderInputs.optWeights(OPT, rng), "opt");
    }

    private static void cudaKindMatches(Target t, ModelConfig cfg,
                                        java.util.function.Function<Random, Map<String, float[]>> weights, String what) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        try (Arena arena = Arena.ofConfined(); Backend be = Backends.open(t.toString(), 2);
             DecoderModel m = DecoderModels.create(be, cfg, LlamaModelTest.tensors(arena, cfg, weights.apply(rng)))) {
            decodingMatchesTheFullForward(m, rng, t == Target.CUDA_EMU ? EMU_STEPS : STEPS, BF16_TOL, t.toString(),
                    "seed " + seed + ", " + t + " " + what);
        }
    }

    /**
     * Prefill of {@link #PROMPTS} random prompts, then {@code steps} steps of random tokens: after
     * each, every row's logits against the full forward of all rows so far (right-padded). The worst
     * error is recorded for {@code target}'s report ({@link Measurements}).
     */
    static void decodingMatchesTheFullForward(DecoderModel m, Random rng, int steps, double tol, String target,
                                              String context) {
        m.setTraining(false);
        int vocab = m.vocabSize();
        int[][] rows = new int[PROMPTS.length][];
        for (int r = 0; r < rows.length; r++) rows[r] = rng.ints(PROMPTS[r], 0, vocab).toArray();
        int maxLength = Arrays.stream(PROMPTS).max().orElseThrow() + steps;
        double worst = 0;
        try (DecodeSession s = m.open(PROMPTS.length + 1, maxLength)) {
            float[][] logits = s.prefill(rows);
            for (int step = 0; ; step++) {
                float[][] ref = fullForwardLastLogits(m, rows);
                for (int r = 0; r < rows.length; r++) {
                    assertEquals(rows[r].length, s.length(r), context + ": length of row " + r);
                    double err = Numerics.relErr(logits[r], ref[r]);
                    worst = Math.max(worst, err);
                    Measurements.record(target, m.config().modelType() + " decode logits vs full forward", err, tol);
                    // a zero reference would make any relative error vacuous
                    assertTrue(spread(ref[r]) > 0.1, context + ": the reference logits of row " + r + " are flat");
                    assertTrue(err < tol, context + ", step " + step + ", row " + r + " (length " + rows[r].length
                            + "): logits relative error " + err + " >= " + tol);
                }
                if (step == steps) break;
                int[] next = rng.ints(rows.length, 0, vocab).toArray();
                for (int r = 0; r < rows.length; r++) {
                    rows[r] = Arrays.copyOf(rows[r], rows[r].length + 1);
                    rows[r][rows[r].length - 1] = next[r];
                }
                logits = s.step(next);
            }
        }
        System.out.printf("decode vs full forward, %s: max logits relative error %.3e%n", context, worst);
    }

    /** Largest minus smallest logit. */
    private static double spread(float[] x) {
        double lo = Double.MAX_VALUE, hi = -Double.MAX_VALUE;
        for (float f : x) {
            lo = Math.min(lo, f);
            hi = Math.max(hi, f);
        }
        return hi - lo;
    }

    /** The full forward's logits at the last token of each row, [rows][V]. */
    private static float[][] fullForwardLastLogits(DecoderModel m, int[][] rows) {
        TokenBatch b = TokenBatch.causalLm(rows, 0);
        m.forward(b);
        int v = m.vocabSize();
        float[] all = m.backend().download(m.logits());
        float[][] out = new float[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            int at = r * b.seqLen() + rows[r].length - 1;
            out[r] = Arrays.copyOfRange(all, at * v, (at + 1) * v);
        }
        return out;
    }

    @Test
    void refusesWhatItCannotDecode() {
        Random rng = new Random(TestSeeds.next());
        try (Arena arena = Arena.ofConfined(); CpuBackend be = new CpuBackend(2);
             DecoderModel m = DecoderModels.create(be, OPT, LlamaModelTest.tensors(arena, OPT, DecoderInputs.optWeights(OPT, rng)))) {
            var e = assertThrows(IllegalArgumentException.class, () -> m.open(2, OPT.maxPositionEmbeddings() + 1));
            assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
            try (KvCacheSession s = m.open(2, 5)) {
                var st = assertThrows(IllegalStateException.class, () -> s.step(new int[] {1}));
                assertTrue(st.getMessage().contains("before prefill"), st.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1}, {2}, {3}}));
                assertTrue(e.getMessage().contains("maxBatch"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1, 2, 3, 4, 5, 6}}));
                assertTrue(e.getMessage().contains("maxLength 5"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1}, {}}));
                assertTrue(e.getMessage().contains("prompt 1 is empty"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> s.prefill(new int[][] {{1, OPT.vocabSize()}}));
                assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
                s.prefill(new int[][] {{1, 2, 3, 4}, {5}});
                e = assertThrows(IllegalArgumentException.class, () -> s.step(new int[] {1}));
                assertTrue(e.getMessage().contains("one token per row (2)"), e.getMessage());
                s.step(new int[] {1, 2});
                assertEquals(5, s.length(0));
                st = assertThrows(IllegalStateException.class, () -> s.step(new int[] {1, 2}));
                assertTrue(st.getMessage().contains("row 0 already holds 5 tokens"), st.getMessage());
                assertEquals(2, s.length(1), "a refused step appends nothing");
            }
        }
    }
}
