package org.gpt4llm.plan;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.memory.Footprint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.parallel.LayerShards;
import org.gpt4llm.train.parallel.RankMemory;
import org.gpt4llm.train.parallel.StepTraffic;

/**
 * What a training run needs in memory, found by building it: the model, its LoRA adapters, the
 * buffers of one micro-batch and the optimizer are constructed on a {@link SizingBackend} that
 * stands for the run's backend, and the bytes they allocate there, by category, are the plan. The
 * runtime allocates through the same constructors, so a plan is what a run's {@link
 * org.gpt4llm.memory.MemoryLedger} measures, less the transient scratch of single kernels.
 *
 * <p>Recomputation is built as the run builds it (each layer's input and one layer's saved
 * activations), and so is an offloaded optimizer: its master weights, moments, gradient sums and
 * staging buffer on the host, and the model's gradients streamed, so that the device keeps two
 * layers' gradients (the ring the backward reuses) plus those outside the layers (embeddings, head,
 * final norm).
 *
 * <p>With several devices the plan is one rank's: its replica, its optimizer (whole under ZeRO 0,
 * its shard of the master weights and moments from ZeRO 1) and its collectives' buckets, allocated
 * through {@link RankMemory} as the runtime's ranks are. Under ZeRO 3 the rank's {@link LayerShards} are
 * built as the runtime builds them: its shard of each layer's weights (and of their fp32 gradients, masters
 * and moments), the pool of two whole layers and the whole weights outside the layers, and the gradients
 * streamed through two layers' buffers. The bytes each rank sends in a step come from the sized model's
 * shapes through {@link StepTraffic}, the runtime's formula.
 */
public final class MemoryPlanner {
    private MemoryPlanner() {}

    public static MemoryPlan plan(PlanRequest r) {
        SizingBackend be = new SizingBackend(r.backend());
        try (DecoderModel model = DecoderModels.zeros(be, r.model())) {
            if (r.lora() != null) model.enableLora(r.lora(), 0);
            model.setRecompute(r.recompute());
            model.stage(List.of(emptyBatch(r.microBatch(), r.seqLen())));
            // as Trainer.optimizer and StepRunner set up an offloaded run (nothing to offload where memory is the host's);
            // several devices keep whole gradients on the device for the collectives, and each rank's shard on the host
            boolean offload = r.offloadOptimizer() && !be.memoryIsHost(), stream = offload && !r.parallel();
            model.streamGradients(stream);
            boolean zero3 = r.parallel() && r.zero() == 3;
            try (Arena rankBuffers = Arena.ofConfined();
                 LayerShards shards = zero3 ? new LayerShards(be, model, null, 0, r.gpus(), DataParallel.DEFAULT_BUCKET) : null;
                 AdamWOptimizer opt = optimizer(be, model, r, offload, shards);
                 StepScalars scalars = be.stepScalars()) {
                if (stream) opt.collectByLayer(true);
                if (r.parallel()) {
                    // as RankWorker sets up a rank (its step scalars are those above)
                    RankMemory.allocateBuffers(be, rankBuffers, model.trainableParameters(), r.gpus(), r.zero(),
                            DataParallel.DEFAULT_BUCKET);
                }
                Footprint f = be.memory().live().plusDevice(MemoryCategory.WORKSPACE, loraWorkspace(be, model, r));
                return new MemoryPlan(r, f, traffic(model, r));
            }
        }
    }

    /**
     * The trainer's optimizer, as a run builds it: on one device (or under ZeRO 0, where every rank keeps a
     * whole one) over every trainable tensor; from ZeRO 1, rank 0's shard (the largest: the last is the one
     * padded), through the constructor {@link RankMemory} gives the runtime's ranks.
     */
    private static AdamWOptimizer optimizer(Backend be, DecoderModel model, PlanRequest r, boolean offload,
                                            LayerShards shards) {
        if (shards != null) {
            return RankMemory.zero3Optimizer(be, shards, model.trainableParameters(), model.trainableGradients(),
                    Backend.AdamW.DEFAULT, name -> true, offload);
        }
        if (!r.parallel() || r.zero() == 0) {
            return new AdamWOptimizer(be, model.trainableParameters(), model.trainableGradients(),
                    Backend.AdamW.DEFAULT, name -> true, offload);
        }
        return RankMemory.shardOptimizer(be, model.trainableParameters(), model.trainableGradients(), r.gpus(), 0,
                Backend.AdamW.DEFAULT, name -> true, offload);
    }

    /**
     * What each rank sends in a step, from the shapes of the sized model's tensors by the formula the
     * runtime's figure comes from ({@link RankMemory#bytesSentPerStep}); nothing on one device.
     */
    private static StepTraffic traffic(DecoderModel model, PlanRequest r) {
        if (!r.parallel()) return new StepTraffic(0, 0);
        StepTraffic.Sizes sizes = StepTraffic.Sizes.of(model.trainableParameters(), r.zero() == 3 ? model : null);
        return StepTraffic.of(sizes, r.gpus(), r.zero(), DataParallel.DEFAULT_BUCKET);
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
