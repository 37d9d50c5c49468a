package org.gpt4llm.plan;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import org.gpt4llm.memory.Footprint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.train.parallel.StepTraffic;

/**
 * The bytes a {@link PlanRequest} needs on the device and on the host, by category; with several
 * devices, the bytes of one of them (every device holds the same, up to the padding of the last shard),
 * and what each of them sends in an optimizer step ({@code traffic}; nothing on one device).
 */
public record MemoryPlan(PlanRequest request, Footprint footprint, StepTraffic traffic) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public long deviceBytes() {
        return footprint.deviceBytes();
    }

    public long hostBytes() {
        return footprint.hostBytes();
    }

    /**
     * The bytes each device sends in an optimizer step, as a ring moves them: once a step, plus under
     * ZeRO 3 its layers' gathers and reduce-scatters in each of its {@link PlanRequest#microBatchesPerDevice}
     * passes.
     */
    public long bytesSentPerStep() {
        return traffic.perStep(request.microBatchesPerDevice());
    }

    /** Whether the device part fits in {@code gpuMemoryBytes}. */
    public boolean fits(long gpuMemoryBytes) {
        return deviceBytes() <= gpuMemoryBytes;
    }

    /**
     * The plan as JSON: the run it describes ({@code gpus} and {@code zero} too), {@code device_bytes}
     * (per device) and {@code host_bytes} in total and
     * by category ({@code device}, {@code host}), the bytes each device sends in a step
     * ({@code planned_bytes_sent_per_rank}, as {@code bench step --gpus N} names them; of which
     * {@code bytes_sent_per_micro_batch} in each of its {@code micro_batches_per_device} passes), and, when {@code gpuMemoryBytes} is positive, whether
     * the device part fits in it.
     */
    public ObjectNode toJson(long gpuMemoryBytes) {
        ObjectNode o = JSON.createObjectNode();
        PlanRequest r = request;
        o.put("model_type", r.model().modelType());
        o.put("hidden_size", r.model().hiddenSize());
        o.put("num_layers", r.model().numLayers());
        o.put("vocab_size", r.model().vocabSize());
        o.put("backend", r.backend().toLowerCase(Locale.ROOT));
        o.put("seq_len", r.seqLen());
        o.put("micro_batch", r.microBatch());
        o.put("mode", r.lora() == null ? "full" : "lora");
        if (r.lora() != null) {
            o.put("lora_rank", r.lora().rank());
            o.putPOJO("lora_targets", r.lora().targets());
        }
        o.put("recompute", r.recompute());
        o.put("offload_optimizer", r.offloadOptimizer());
        o.put("gpus", r.gpus());
        o.put("zero", r.zero());
        o.put("batch", r.batch());
        o.put("micro_batches_per_device", r.microBatchesPerDevice());
        o.put("device_bytes", deviceBytes());
        o.put("host_bytes", hostBytes());
        o.put("planned_bytes_sent_per_rank", bytesSentPerStep());
        o.put("bytes_sent_per_micro_batch", traffic.perMicroBatch());
        ObjectNode device = o.putObject("device"), host = o.putObject("host");
        for (MemoryCategory c : MemoryCategory.values()) {
            device.put(c.key(), footprint.device(c));
            host.put(c.key(), footprint.host(c));
        }
        if (gpuMemoryBytes > 0) {
            o.put("gpu_memory_bytes", gpuMemoryBytes);
            o.put("fits", fits(gpuMemoryBytes));
        }
        return o;
    }
}
