package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.optim.AdamWOptimizer;
import org.junit.jupiter.api.Test;

/** As HF's Trainer: weight decay on the matrices, none on the RMSNorm weights. */
class WeightDecayTest {
    @Test
    void normWeightsAreNotDecayed() {
        try (CpuBackend cpu = new CpuBackend(1); var llama = Synthetic.model(cpu, 1).model()) {
            FullFineTune m = new FullFineTune(llama, null);
            assertFalse(m.decays("model.layers.0.input_layernorm.weight"));
            assertFalse(m.decays("model.norm.weight"));
            assertTrue(m.decays("model.layers.0.self_attn.q_proj.weight"));
            String norm = "model.layers.1.post_attention_layernorm.weight", matrix = "model.layers.1.mlp.up_proj.weight";
            float[] norm0 = cpu.download(m.trainableParameters().get(norm)), w0 = cpu.download(m.trainableParameters().get(matrix));
            m.zeroGrad(); // zero gradients: the only change an update makes is the decay p -= lr * wd * p
            try (AdamWOptimizer opt = new AdamWOptimizer(cpu, m.trainableParameters(), m.trainableGradients(),
                    new Backend.AdamW(0.9f, 0.999f, 1e-8f, 0.5f), m::decays)) {
                opt.step(0.1f, 1f);
            }
            assertArrayEquals(norm0, cpu.download(m.trainableParameters().get(norm)));
            float[] w1 = cpu.download(m.trainableParameters().get(matrix));
            for (int i = 0; i < w0.length; i++) assertEquals(w0[i] * 0.95f, w1[i], 1e-7f);
        }
    }
}
