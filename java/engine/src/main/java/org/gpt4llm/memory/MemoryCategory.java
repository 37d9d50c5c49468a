package org.gpt4llm.memory;

import java.util.Locale;

/**
 * What an allocation of the engine holds, as {@link MemoryLedger} counts it and {@code gpt4llm plan}
 * prints it. The {@link #key} is the name in metrics, plans and JSON.
 */
public enum MemoryCategory {
    /** The weights the kernels read (bf16 on a GPU), LoRA adapters and value heads included. */
    WEIGHTS,
    /** fp32 gradient buffers. */
    GRADIENTS,
    /** fp32 copies of low-precision weights that the optimizer updates. */
    MASTER_WEIGHTS,
    /** AdamW's first and second moments. */
    MOMENTS,
    /** What the forward saves for the backward (and a KV cache when decoding). */
    ACTIVATIONS,
    /** Temporary buffers: the backward's gradients of activations, scratch, uploaded inputs. */
    WORKSPACE,
    /** The LM head's logits and per-token losses. */
    LOGITS;

    /** The lower-case name used in JSON and metrics: "master_weights". */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The category named {@code key} ({@link #key}), or an error listing the names. */
    public static MemoryCategory ofKey(String key) {
        for (MemoryCategory c : values()) if (c.key().equals(key)) return c;
        throw new IllegalArgumentException("unknown memory category " + key + " (weights, gradients, master_weights,"
                + " moments, activations, workspace, logits)");
    }
}
