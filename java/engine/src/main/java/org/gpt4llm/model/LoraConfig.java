package org.gpt4llm.model;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * A LoRA setup as PEFT's {@code LoraConfig} describes it: rank r, {@code lora_alpha} (the adapter's
 * output is scaled by alpha / r), {@code lora_dropout} on the adapter's input during training, and the
 * linear layers that get an adapter (the model checks they are its own).
 */
public record LoraConfig(int rank, float alpha, float dropout, List<String> targets) {
    /** The linear layers of a LLaMA decoder layer, in the order a layer runs them. */
    public static final List<String> LLAMA_TARGETS =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
    /** The linear layers of an OPT decoder layer, in the order a layer runs them. */
    public static final List<String> OPT_TARGETS = List.of("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2");

    public LoraConfig {
        if (rank < 1) throw new IllegalArgumentException("--lora-rank must be at least 1, got " + rank);
        if (!(alpha > 0f) || !Float.isFinite(alpha)) throw new IllegalArgumentException("--lora-alpha must be positive, got " + alpha);
        if (!(dropout >= 0f && dropout < 1f)) throw new IllegalArgumentException("--lora-dropout must be in [0, 1), got " + dropout);
        if (targets == null || targets.isEmpty()) throw new IllegalArgumentException("--lora-targets names no layer");
        for (String t : targets) {
            if (!LLAMA_TARGETS.contains(t) && !OPT_TARGETS.contains(t)) {
                throw new IllegalArgumentException("--lora-targets: " + t + " is not a linear layer of LLaMA ("
                        + String.join(", ", LLAMA_TARGETS) + ") or OPT (" + String.join(", ", OPT_TARGETS) + ")");
            }
        }
        targets = List.copyOf(new LinkedHashSet<>(targets));
    }

    /** The targets of a comma-separated flag value such as {@code "q_proj,v_proj"}. */
    public static List<String> parseTargets(String commaSeparated) {
        List<String> out = new ArrayList<>();
        for (String t : commaSeparated.split(",")) if (!t.isBlank()) out.add(t.strip());
        return out;
    }

    /** PEFT's scaling of the adapter's output, alpha / r. */
    public float scale() {
        return alpha / rank;
    }

    /** Whether layer {@code target} (one of the model's linear layers) has an adapter. */
    public boolean targets(String target) {
        return targets.contains(target);
    }
}
