package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.backend.cuda.device.DeviceCounters;
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

    /**
     * What a warm step may do on the device: no allocation or free, one synchronization and one 8-byte
     * read-back (loss and gradient norm), one upload per micro-batch plus the step's scalars
     * ({@code uploadBytes} in all), and its work either as one graph launch or as eager launches.
     */
    static void assertWarmStep(DeviceCounters d, int microBatches, long uploadBytes, boolean graph, String ctx) {
        assertEquals(0, d.allocations(), ctx);
        assertEquals(0, d.frees(), ctx);
        assertEquals(1, d.synchronizations(), ctx);
        assertEquals(1, d.downloads(), ctx);
        assertEquals(8, d.downloadBytes(), ctx);
        assertEquals(microBatches + 1, d.uploads(), ctx);
        assertEquals(uploadBytes, d.uploadBytes(), ctx);
        if (graph) {
            assertEquals(1, d.graphLaunches(), ctx);
            assertEquals(0, d.launches() + d.gemms() + d.copies() + d.memsets(), ctx);
        } else {
            assertEquals(0, d.graphLaunches(), ctx);
            assertTrue(d.launches() > 0 && d.gemms() > 0, ctx);
        }
    }

    /** A learning rate that differs in every step: a value passed by value into captured work would show. */
    static double lr(int step) {
        return 2e-3 * (1 + step % 3) / (1 + 0.1 * step);
    }
}
