package org.gpt4llm.plan;

import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.train.parallel.DataParallel;

/**
 * What a training run would be: the model, the backend, micro-batches of {@code microBatch} rows of
 * {@code seqLen} tokens, full fine-tuning ({@code lora} null) or LoRA adapters, with or without
 * activation recomputation and the optimizer offloaded to the host, on {@code gpus} devices at ZeRO
 * stage {@code zero} (the figures are then one device's), {@code batch} rows an optimizer step over all
 * devices (as {@code sft --batch}: the micro-batches beyond one per device accumulate).
 */
public record PlanRequest(ModelConfig model, String backend, int seqLen, int microBatch, LoraConfig lora,
                          boolean recompute, boolean offloadOptimizer, int gpus, int zero, int batch) {
    public PlanRequest {
        Backends.checkName(backend);
        if (seqLen < 1) throw new IllegalArgumentException("--seq-len must be at least 1, got " + seqLen);
        if (microBatch < 1) throw new IllegalArgumentException("--micro-batch must be at least 1, got " + microBatch);
        if (gpus < 1) throw new IllegalArgumentException("--gpus must be at least 1, got " + gpus);
        if (zero < 0 || zero > 3) throw new IllegalArgumentException("--zero must be 0, 1, 2 or 3, got " + zero);
        if (gpus > 1 && offloadOptimizer) DataParallel.checkOffload(true, zero);
        if (batch < microBatch) throw new IllegalArgumentException("--micro-batch " + microBatch + " is larger than --batch " + batch);
    }

    /** A run whose every device takes one micro-batch a step (no accumulation). */
    public PlanRequest(ModelConfig model, String backend, int seqLen, int microBatch, LoraConfig lora,
                       boolean recompute, boolean offloadOptimizer, int gpus, int zero) {
        this(model, backend, seqLen, microBatch, lora, recompute, offloadOptimizer, gpus, zero,
                Math.multiplyExact(microBatch, gpus));
    }

    /** A run on one device. */
    public PlanRequest(ModelConfig model, String backend, int seqLen, int microBatch, LoraConfig lora,
                       boolean recompute, boolean offloadOptimizer) {
        this(model, backend, seqLen, microBatch, lora, recompute, offloadOptimizer, 1, 0);
    }

    /** Whether the plan is one rank of a data-parallel run. */
    public boolean parallel() {
        return gpus > 1;
    }

    /**
     * The forward and backward passes a device runs in a step: the step's micro-batches (the last one
     * short where {@code batch} is not a multiple of {@code microBatch}) over the devices, the most any
     * one of them takes.
     */
    public int microBatchesPerDevice() {
        return Math.ceilDiv(Math.ceilDiv(batch, microBatch), gpus);
    }
}
