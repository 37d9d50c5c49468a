package org.gpt4llm.plan;

import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.runtime.Backends;

/**
 * What a training run would be: the model, the backend, micro-batches of {@code microBatch} rows of
 * {@code seqLen} tokens, full fine-tuning ({@code lora} null) or LoRA adapters, with or without
 * activation recomputation and the optimizer offloaded to the host.
 */
public record PlanRequest(ModelConfig model, String backend, int seqLen, int microBatch, LoraConfig lora,
                          boolean recompute, boolean offloadOptimizer) {
    public PlanRequest {
        Backends.checkName(backend);
        if (seqLen < 1) throw new IllegalArgumentException("--seq-len must be at least 1, got " + seqLen);
        if (microBatch < 1) throw new IllegalArgumentException("--micro-batch must be at least 1, got " + microBatch);
    }
}
