package org.gpt4llm.plan;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.memory.Footprint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.Tensor;

/**
 * What a training run needs in memory, found by building it: the model, its LoRA adapters, the
 * buffers of one micro-batch and the optimizer are constructed on a {@link SizingBackend} that
 * stands for the run's backend, and the bytes they allocate there, by category, are the plan. The
 * runtime allocates through the same constructors, so a plan is what a run's {@link
 * org.gpt4llm.memory.MemoryLedger} measures, less the transient scratch of single kernels.
 *
 * <p>Recomputation is built as the run builds it (each layer's input and one layer's saved
 * activations). With the optimizer offloaded, master weights, moments and a full set of gradients
 * live on the host, and the device keeps the gradients of about two layers (the one the backward
 * writes and the one going to the host) plus those outside the layers (embeddings, head, final norm).
 */
public final class MemoryPlanner {
    private static final Pattern LAYER = Pattern.compile("\\.layers\\.(\\d+)\\.");
    /** Layers whose gradients are on the device at once when they stream to the host. */
    static final int STREAMED_GRADIENT_LAYERS = 2;

    private MemoryPlanner() {}

    public static MemoryPlan plan(PlanRequest r) {
        SizingBackend be = new SizingBackend(r.backend());
        try (DecoderModel model = DecoderModel.zeros(be, r.model())) {
            if (r.lora() != null) model.enableLora(r.lora(), 0);
            model.setRecompute(r.recompute());
            model.stage(List.of(emptyBatch(r.microBatch(), r.seqLen())));
            try (AdamWOptimizer opt = new AdamWOptimizer(be, model.trainableParameters(), model.trainableGradients(),
                    Backend.AdamW.DEFAULT);
                 StepScalars scalars = be.stepScalars()) {
                Footprint f = be.memory().live().plusDevice(MemoryCategory.WORKSPACE, loraWorkspace(be, model, r));
                if (r.offloadOptimizer()) f = offloaded(f, model.trainableGradients());
                return new MemoryPlan(r, f);
            }
        }
    }

    /** Master weights, moments and the trainable gradients on the host; two layers' gradients stay on the device. */
    private static Footprint offloaded(Footprint f, Map<String, Tensor> trainableGrads) {
        Map<Integer, Long> perLayer = new HashMap<>();
        long outsideLayers = 0, all = 0;
        for (var e : trainableGrads.entrySet()) {
            long bytes = e.getValue().byteSize();
            all += bytes;
            Matcher m = LAYER.matcher(e.getKey());
            if (m.find()) perLayer.merge(Integer.parseInt(m.group(1)), bytes, Long::sum);
            else outsideLayers += bytes;
        }
        List<Long> largest = new ArrayList<>(perLayer.values());
        largest.sort(java.util.Comparator.reverseOrder());
        long streamed = largest.stream().limit(STREAMED_GRADIENT_LAYERS).mapToLong(Long::longValue).sum();
        return f.moveToHost(MemoryCategory.MASTER_WEIGHTS).moveToHost(MemoryCategory.MOMENTS)
                .plusDevice(MemoryCategory.GRADIENTS, streamed + outsideLayers - all)
                .plusHost(MemoryCategory.GRADIENTS, all);
    }

    /** The scratch the backend keeps for the LoRA kernels: the largest adapter's need. */
    private static long loraWorkspace(Backend be, DecoderModel model, PlanRequest r) {
        if (r.lora() == null) return 0;
        long rows = (long) r.microBatch() * r.seqLen(), most = 0;
        Map<String, Tensor> p = model.trainableParameters();
        for (var e : p.entrySet()) {
            if (!e.getKey().endsWith(".lora_A.weight")) continue;
            Tensor a = e.getValue(), b = p.get(e.getKey().replace(".lora_A.", ".lora_B."));
            most = Math.max(most, be.loraWorkspaceBytes(rows, a.dim(1), b.dim(0), a.dim(0), r.lora().dropout()));
        }
        return most;
    }

    /** A micro-batch of {@code batch} rows of {@code seqLen} tokens with no targets: it only sizes the buffers. */
    private static TokenBatch emptyBatch(int batch, int seqLen) {
        int n = Math.multiplyExact(batch, seqLen);
        int[] zeros = new int[n], targets = new int[n], positions = new int[n], segments = new int[n];
        java.util.Arrays.fill(targets, TokenBatch.IGNORE);
        java.util.Arrays.fill(segments, 1);
        for (int i = 0; i < n; i++) positions[i] = i % seqLen;
        return new TokenBatch(batch, seqLen, zeros, targets, positions, segments);
    }
}
