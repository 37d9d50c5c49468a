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

    /** The same run with full fine-tuning, no recomputation and no offload. */
    public static PlanRequest full(ModelConfig model, String backend, int seqLen, int microBatch) {
        return new PlanRequest(model, backend, seqLen, microBatch, null, false, false);
    }

    public PlanRequest withLora(LoraConfig c) {
        return new PlanRequest(model, backend, seqLen, microBatch, c, recompute, offloadOptimizer);
    }

    public PlanRequest withRecompute(boolean on) {
        return new PlanRequest(model, backend, seqLen, microBatch, lora, on, offloadOptimizer);
    }

    public PlanRequest withOffloadOptimizer(boolean on) {
        return new PlanRequest(model, backend, seqLen, microBatch, lora, recompute, on);
    }
}
