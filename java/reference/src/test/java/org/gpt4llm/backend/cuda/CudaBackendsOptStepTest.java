package org.gpt4llm.backend.cuda;

import org.gpt4llm.backend.contract.Target;
import org.gpt4llm.model.OptConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A whole OPT training step on each backend that runs the CUDA kernels (cuda-emu, and cuda where a
 * GPU is present) against the fp32 {@code cpu} backend, with the bounds and reasoning of
 * {@link CudaBackendsLlamaStepTest}: LayerNorm with biases, learned positions, biases as rank-1 GEMMs
 * and the ReLU MLP in bf16.
 *
 * <p>Gradients below a ReLU get a wider bound than SwiGLU's smooth gate needs: the fc1 outputs differ
 * by ~1% between the backends, so the ~1% of them that lie that close to 0 switch their gate, and each
 * switched gate drops or adds its whole gradient. That costs ~sqrt(1%) = 10% relative error in every
 * gradient under the last ReLU (measured 5-13%); the gradients above it (lm_head, final norm, last fc2)
 * stay below 1% and keep the LLaMA bound. A wrong kernel still gives errors of order 1.
 */
class CudaBackendsOptStepTest {
    private static final double GRAD_TOL_BELOW_RELU = 0.25;

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#cudaKinds")
    void trainingStepMatchesTheCpuBackend(Target t) throws Exception {
        // head dim 64 takes the tensor-core attention; untied head so lm_head and the embeddings are separate
        OptConfig cfg = OptConfig.builder().hiddenSize(128).intermediateSize(176).numLayers(2).numHeads(2).vocabSize(97)
                .tieWordEmbeddings(false).maxPositionEmbeddings(64).build();
        String lastFc2 = "model.decoder.layers." + (cfg.numLayers() - 1) + ".fc2.";
        CudaBackendsLlamaStepTest.stepMatchesTheCpuBackend(t, cfg, name -> name.equals("lm_head.weight")
                || name.startsWith(cfg.finalNormName()) || name.startsWith(lastFc2)
                ? CudaBackendsLlamaStepTest.GRAD_TOL : GRAD_TOL_BELOW_RELU);
    }
}
