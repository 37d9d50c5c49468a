package org.gpt4llm.optim;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * AdamW over a set of named parameters with fp32 gradients, with global gradient-norm clipping
 * folded into the update (the clip factor scales the gradient inside the AdamW kernel, so there is
 * no extra pass). Parameters stored in a low precision (BF16 on a GPU) get an fp32 master copy here,
 * which is what the update works on. Moments and masters are owned by this optimizer's arena.
 *
 * <p>Two ways to step: {@link #step(float, float)} reads the norm back and decides the clip on the
 * host; {@link #prepare} + {@link #update} leave the norm, the clip factor and every per-step scalar
 * where the backend's kernels read them ({@link StepScalars}), so a training step waits for nothing
 * and can be replayed as a CUDA graph.
 */
public final class AdamWOptimizer implements AutoCloseable {
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final Map<String, Slot> slots = new LinkedHashMap<>();
    private final Backend.AdamW hp;
    private int step;

    private record Slot(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, Backend.AdamW hp) {}

    public AdamWOptimizer(Backend backend, Map<String, Tensor> params, Map<String, Tensor> grads, Backend.AdamW hp) {
        this(backend, params, grads, hp, name -> true);
    }

    /**
     * As above, with weight decay only for the parameters {@code decays} accepts (HF's Trainer exempts
     * biases and normalisation weights); the others are updated with a weight decay of 0.
     */
    public AdamWOptimizer(Backend backend, Map<String, Tensor> params, Map<String, Tensor> grads, Backend.AdamW hp,
                          Predicate<String> decays) {
        this.backend = backend;
        this.hp = hp;
        for (var e : params.entrySet()) {
            Tensor g = grads.get(e.getKey());
            if (g == null) throw new IllegalArgumentException("no gradient for parameter " + e.getKey());
            Tensor p = e.getValue(), master = null;
            if (p.dtype() != DType.F32) {
                master = backend.allocate(arena, MemoryCategory.MASTER_WEIGHTS, DType.F32, p.shape());
                backend.convert(master, p);
            }
            Backend.AdamW slotHp = decays.test(e.getKey()) ? hp : new Backend.AdamW(hp.beta1(), hp.beta2(), hp.eps(), 0f);
            slots.put(e.getKey(), new Slot(p, master, g, backend.allocate(arena, MemoryCategory.MOMENTS, DType.F32, p.shape()),
                    backend.allocate(arena, MemoryCategory.MOMENTS, DType.F32, p.shape()), slotHp));
        }
    }

    /** The L2 norm of all gradients together. */
    public double gradNorm() {
        return Math.sqrt(backend.sumOfSquares(slots.values().stream().map(Slot::grad).toList()));
    }

    /**
     * One update. Gradients are scaled by {@code min(1, maxGradNorm / (norm + 1e-6))} first (PyTorch's
     * {@code clip_grad_norm_}); {@code maxGradNorm <= 0} disables clipping. Returns the norm before
     * clipping. A non-finite norm leaves the parameters untouched and is returned so the caller can stop.
     */
    public double step(float lr, float maxGradNorm) {
        backend.rangePush("optimizer");
        try {
            double norm = gradNorm();
            if (!Double.isFinite(norm)) return norm;
            float clip = StepScalars.clipFactor(norm, maxGradNorm);
            step++;
            for (Slot s : slots.values()) backend.adamw(s.param, s.master, s.grad, s.m, s.v, s.hp, lr, step, clip);
            return norm;
        } finally {
            backend.rangePop();
        }
    }

    /**
     * Counts the coming update and writes its learning rate and bias corrections into {@code scalars}
     * (sent to the device with the step's other values by {@link StepScalars#upload}); host work,
     * outside any captured step. {@link #cancel} takes the count back when the update did not happen.
     */
    public void prepare(StepScalars scalars, float lr) {
        step++;
        scalars.setUpdate(lr, step, hp);
    }

    /**
     * Queues the update {@link #prepare} described: the global gradient norm into {@code scalars}, the
     * clip factor for {@code maxGradNorm} (0: none), then AdamW, all reading and writing the scalars
     * where they live; nothing is read back. A non-finite norm or loss makes the update change nothing.
     */
    public void update(StepScalars scalars, float maxGradNorm) {
        backend.rangePush("optimizer");
        try {
            backend.clipGradients(scalars, slots.values().stream().map(Slot::grad).toList(), maxGradNorm);
            for (Slot s : slots.values()) backend.adamw(s.param, s.master, s.grad, s.m, s.v, s.hp, scalars);
        } finally {
            backend.rangePop();
        }
    }

    /**
     * The update {@link #prepare} counted, at learning rate {@code lr}, clipped for a global gradient norm
     * {@code norm} computed elsewhere: an optimizer over a shard of the parameters (ZeRO) holds only part
     * of the gradients the norm is taken over.
     */
    public void update(float lr, double norm, float maxGradNorm) {
        if (step == 0) throw new IllegalStateException("update before prepare");
        backend.rangePush("optimizer");
        try {
            float clip = StepScalars.clipFactor(norm, maxGradNorm);
            for (Slot s : slots.values()) backend.adamw(s.param, s.master, s.grad, s.m, s.v, s.hp, lr, step, clip);
        } finally {
            backend.rangePop();
        }
    }

    /** The gradients of the updated parameters, in order (the sum of their squares is this shard's part of a norm). */
    public java.util.List<Tensor> gradients() {
        return slots.values().stream().map(Slot::grad).toList();
    }

    /** Takes back the count of the last {@link #prepare}: its update was skipped (a non-finite norm or loss). */
    public void cancel() {
        if (step == 0) throw new IllegalStateException("no update to cancel");
        step--;
    }

    /** Number of updates applied so far (the bias-correction step). */
    public int stepCount() {
        return step;
    }

    /** First and second moments by parameter name, for checkpoints. */
    public Map<String, Tensor> moments(boolean second) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        slots.forEach((k, s) -> out.put(k, second ? s.v : s.m));
        return out;
    }

    /** Restores the state saved from {@link #moments} and {@link #stepCount}. */
    public void restore(int stepCount, Map<String, Tensor> m, Map<String, Tensor> v) {
        for (var e : slots.entrySet()) {
            Tensor sm = m.get(e.getKey()), sv = v.get(e.getKey());
            if (sm == null || sv == null) throw new IllegalArgumentException("optimizer state has no moments for " + e.getKey());
            // a moment restored from itself (only the count changes) is not copied onto itself
            if (sm != e.getValue().m) backend.copy(e.getValue().m, sm);
            if (sv != e.getValue().v) backend.copy(e.getValue().v, sv);
        }
        this.step = stepCount;
    }

    @Override
    public void close() {
        arena.close();
    }
}
