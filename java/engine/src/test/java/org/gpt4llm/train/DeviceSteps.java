package org.gpt4llm.train;

import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;

/** Training steps of {@link Synthetic#TINY} in fixed shapes, as the step tests on the cuda backends run them. */
final class DeviceSteps {
    /** Rank 4 with dropout on an attention and an MLP projection: masks from the step's seed in every pass. */
    static final LoraConfig LORA = new LoraConfig(4, 8f, 0.1f, List.of("q_proj", "v_proj", "down_proj"));

    private DeviceSteps() {}

    /** Every weight ("full"), or LoRA adapters ("lora") on {@code m}. */
    static TrainableModel<TokenBatch> trainable(DecoderModel m, String kind, long seed) {
        return switch (kind) {
            case "full" -> new FullFineTune(m, null);
            case "lora" -> {
                m.enableLora(LORA, seed);
                yield new LoraFineTune(m, null);
            }
            default -> throw new IllegalArgumentException("no trainable kind " + kind);
        };
    }

    /**
     * The micro-batches of step {@code step} (from 1): {@code count} of {@code rows} rows each, every row
     * padded to {@code length} tokens, different rows of {@code data} in every step.
     */
    static List<TokenBatch> micro(BatchSource<TokenBatch> data, int step, int count, int rows, int length) {
        List<TokenBatch> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] idx = new int[rows];
            for (int r = 0; r < rows; r++) idx[r] = ((step * count + i) * rows + r) % data.size();
            out.add(data.batch(idx, length));
        }
        return out;
    }

    /** A learning rate that differs in every step: a value passed by value into captured work would show. */
    static double lr(int step) {
        return 2e-3 * (1 + step % 3) / (1 + 0.1 * step);
    }
}
