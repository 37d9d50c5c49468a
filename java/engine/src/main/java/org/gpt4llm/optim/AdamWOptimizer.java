package org.gpt4llm.optim;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderLayout;
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
 *
 * <p>Offloaded ({@code --offload-optimizer}, on a backend whose memory is not the host's): the fp32
 * masters and both moments live in host memory ({@link Backend#allocateHost}, page-locked on a GPU),
 * the gradients are copied there (layer by layer as the backward completes them, with
 * {@link #collectByLayer}, beside the backward's work and summed over the micro-batches in fp32 while
 * the device goes on ({@link HostGradientStream}); else once after the backward), the
 * norm and clip factor are taken there, the native CPU AdamW kernel updates the masters, and the
 * parameters are written back from them in their own dtype. The device then holds no optimizer
 * state; an update waits for the device.
 */
public final class AdamWOptimizer implements AutoCloseable {
    private final Backend backend;
    private final boolean offloaded;
    private final Arena arena = Arena.ofShared();
    private final Map<String, Slot> slots = new LinkedHashMap<>();
    private final Backend.AdamW hp;
    private int step;
    /** Offloaded with gradients collected layer by layer, through {@code toHost} (made on first use). */
    private boolean byLayer;
    private HostGradientStream toHost;

    /**
     * {@code hostGrad}: the host copy of {@code grad} when offloaded, else null; {@code layer}: the
     * decoder layer of the parameter, -1 for the others (embeddings, final norm, head).
     */
    private record Slot(Tensor param, Tensor master, Tensor grad, Tensor hostGrad, Tensor m, Tensor v, Backend.AdamW hp,
                        int layer) {}

    public AdamWOptimizer(Backend backend, Map<String, Tensor> params, Map<String, Tensor> grads, Backend.AdamW hp) {
        this(backend, params, grads, hp, name -> true);
    }

    /**
     * As above, with weight decay only for the parameters {@code decays} accepts (HF's Trainer exempts
     * biases and normalisation weights); the others are updated with a weight decay of 0.
     */
    public AdamWOptimizer(Backend backend, Map<String, Tensor> params, Map<String, Tensor> grads, Backend.AdamW hp,
                          Predicate<String> decays) {
        this(backend, params, grads, hp, decays, false);
    }

    /**
     * As above; with {@code offload} the state lives in host memory and the update runs on the CPU
     * (a no-op on a backend whose memory is the host's: see {@link #offloaded}).
     */
    public AdamWOptimizer(Backend backend, Map<String, Tensor> params, Map<String, Tensor> grads, Backend.AdamW hp,
                          Predicate<String> decays, boolean offload) {
        this.backend = backend;
        this.hp = hp;
        this.offloaded = offload && !backend.memoryIsHost();
        for (var e : params.entrySet()) {
            Tensor g = grads.get(e.getKey());
            if (g == null) throw new IllegalArgumentException("no gradient for parameter " + e.getKey());
            Tensor p = e.getValue();
            if (p.dtype() != DType.F32 && backend.trainedWeightType() == DType.F32) {
                throw new IllegalArgumentException("parameter " + e.getKey() + " is stored in " + p.dtype() + " and the "
                        + backend.name() + " backend trains only fp32 weights: full fine-tuning needs them (--dtype f32,"
                        + " or an Engine opened with DType.F32); LoRA adapters train over a half-precision base");
            }
            Backend.AdamW slotHp = decays.test(e.getKey()) ? hp : new Backend.AdamW(hp.beta1(), hp.beta2(), hp.eps(), 0f);
            Slot s = offloaded
                    ? new Slot(p, backend.allocateHost(arena, MemoryCategory.MASTER_WEIGHTS, DType.F32, p.shape()), g,
                            backend.allocateHost(arena, MemoryCategory.GRADIENTS, DType.F32, p.shape()),
                            backend.allocateHost(arena, MemoryCategory.MOMENTS, DType.F32, p.shape()),
                            backend.allocateHost(arena, MemoryCategory.MOMENTS, DType.F32, p.shape()), slotHp, DecoderLayout.layerOf(e.getKey()))
                    : new Slot(p, p.dtype() == DType.F32 ? null
                            : backend.allocate(arena, MemoryCategory.MASTER_WEIGHTS, DType.F32, p.shape()), g, null,
                            backend.allocate(arena, MemoryCategory.MOMENTS, DType.F32, p.shape()),
                            backend.allocate(arena, MemoryCategory.MOMENTS, DType.F32, p.shape()), slotHp, DecoderLayout.layerOf(e.getKey()));
            slots.put(e.getKey(), s);
            if (s.master != null) masterFromParam(s);
        }
    }

    /** Whether the state lives in host memory and updates run on the CPU (asked for, on a backend with memory of its own). */
    public boolean offloaded() {
        return offloaded;
    }

    /**
     * Offloaded: whether the model reports each layer whose gradients are complete ({@link #gradientsDone},
     * from every backward of a step, after {@link #startAccumulation}); without, the gradients are copied
     * once the step's backward is over.
     */
    public void collectByLayer(boolean on) {
        if (on && !offloaded) {
            throw new IllegalStateException("gradients are collected on the host only when the optimizer is offloaded");
        }
        if (!on && toHost != null) toHost.finish();
        byLayer = on;
        if (on && toHost == null) {
            List<Integer> layers = new ArrayList<>();
            List<Tensor> grads = new ArrayList<>(), sums = new ArrayList<>();
            for (Slot s : slots.values()) {
                layers.add(s.layer);
                grads.add(s.grad);
                sums.add(s.hostGrad);
            }
            toHost = new HostGradientStream(backend, arena, layers, grads, sums);
        }
    }

    /** Starts a step's gradients: with {@link #collectByLayer}, the host's sums restart from 0. */
    public void startAccumulation() {
        if (!byLayer) return;
        toHost.finish();
        for (Slot s : slots.values()) s.hostGrad.data().fill((byte) 0);
    }

    /**
     * The backward completed the gradients of decoder layer {@code layer} (-1: of every parameter outside
     * the layers): each is added to its host sum and zeroed on the device, whose buffer the next
     * micro-batch then fills afresh, or, where the model streams its gradients (two layers' buffers taking
     * turns), the layer two below in this backward. The copies run beside the backward; the host adds a
     * layer's gradients once the next has been handed over (see {@link HostGradientStream}).
     */
    public void gradientsDone(int layer) {
        if (!byLayer) return;
        toHost.layerDone(layer);
    }

    /**
     * Offloaded with {@link #collectByLayer}: the host's fp32 sums of the step's gradients by parameter name,
     * complete up to the last layer the backward reported (what the update reads); else none.
     */
    public Map<String, Tensor> gradientSums() {
        if (!byLayer) return Map.of();
        toHost.finish();
        Map<String, Tensor> out = new LinkedHashMap<>();
        slots.forEach((k, s) -> out.put(k, s.hostGrad));
        return out;
    }

    /** The L2 norm of all gradients together. */
    public double gradNorm() {
        return Math.sqrt(offloaded ? hostGradients() : backend.sumOfSquares(slots.values().stream().map(Slot::grad).toList()));
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
            if (offloaded) {
                updateOnHost(lr, step, clip);
            } else {
                for (Slot s : slots.values()) backend.adamw(s.param, s.master, s.grad, s.m, s.v, s.hp, lr, step, clip);
            }
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
     * Offloaded, the update waits for the backward, reads the loss sum and the gradients back and runs
     * on the host ({@link StepScalars#setOffloadedNorm}), so it cannot be part of a captured step.
     */
    public void update(StepScalars scalars, float maxGradNorm) {
        backend.rangePush("optimizer");
        try {
            if (offloaded) {
                double lossSum = scalars.read().lossSum();
                scalars.setOffloadedNorm(lossSum, hostGradients(), maxGradNorm);
                if (!scalars.hostSkips()) updateOnHost(scalars.lr(), scalars.step(), scalars.hostClip());
                return;
            }
            backend.clipGradients(scalars, slots.values().stream().map(Slot::grad).toList(), maxGradNorm);
            for (Slot s : slots.values()) backend.adamw(s.param, s.master, s.grad, s.m, s.v, s.hp, scalars);
        } finally {
            backend.rangePop();
        }
    }

    /**
     * The update {@link #prepare} counted, at learning rate {@code lr}, clipped for a global gradient norm
     * {@code norm} computed elsewhere: an optimizer over a shard of the parameters (ZeRO) holds only part
     * of the gradients the norm is taken over. Offloaded, its gradients are copied to the host first.
     */
    public void update(float lr, double norm, float maxGradNorm) {
        if (step == 0) throw new IllegalStateException("update before prepare");
        if (byLayer) throw new IllegalStateException("an optimizer collecting its gradients by layer updates from them");
        backend.rangePush("optimizer");
        try {
            float clip = StepScalars.clipFactor(norm, maxGradNorm);
            if (offloaded) {
                // the gradients are complete on the device (summed over the ranks): copied over once
                for (Slot s : slots.values()) backend.download(s.hostGrad, s.grad);
                updateOnHost(lr, step, clip);
                return;
            }
            for (Slot s : slots.values()) backend.adamw(s.param, s.master, s.grad, s.m, s.v, s.hp, lr, step, clip);
        } finally {
            backend.rangePop();
        }
    }

    /** The gradients of the updated parameters, in order (the sum of their squares is this shard's part of a norm). */
    public java.util.List<Tensor> gradients() {
        return slots.values().stream().map(Slot::grad).toList();
    }

    /**
     * The step's gradients on the host (collected layer by layer, or copied now); returns their sum of
     * squares, taken on the host.
     */
    private double hostGradients() {
        double sumSq = 0;
        if (byLayer) toHost.finish();
        for (Slot s : slots.values()) {
            if (!byLayer) backend.download(s.hostGrad, s.grad);
            sumSq += CpuKernels.sumsq(s.hostGrad.data(), s.hostGrad.numel());
        }
        return sumSq;
    }

    /** The native CPU AdamW over the host masters, then every parameter written from its master. */
    private void updateOnHost(float lr, int step, float clip) {
        for (Slot s : slots.values()) {
            CpuKernels.adamw(s.master.data(), s.hostGrad.data(), s.m.data(), s.v.data(), s.master.numel(), lr,
                    s.hp.beta1(), s.hp.beta2(), s.hp.eps(), s.hp.weightDecay(), step, clip);
            backend.upload(s.param, s.master);
        }
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

    /** First and second moments by parameter name, for checkpoints; in host memory when {@link #offloaded}. */
    public Map<String, Tensor> moments(boolean second) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        slots.forEach((k, s) -> out.put(k, second ? s.v : s.m));
        return out;
    }

    /**
     * The fp32 master weights by parameter name, for checkpoints: every parameter's when {@link #offloaded}
     * (in host memory), else those of the parameters stored in a lower precision (none on the CPU).
     */
    public Map<String, Tensor> masters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        slots.forEach((k, s) -> {
            if (s.master != null) out.put(k, s.master);
        });
        return out;
    }

    /**
     * Ends a restore whose moments (and, with {@code withMasters}, masters) were written into the tensors of
     * {@link #moments} and {@link #masters}: sets the update count, then either writes every parameter
     * from its restored master, or, without masters (an older checkpoint), takes the masters from the
     * restored parameters, which is exact only up to their rounding.
     */
    public void restored(int stepCount, boolean withMasters) {
        for (Slot s : slots.values()) {
            if (s.master == null) continue;
            if (!withMasters) masterFromParam(s);
            else if (offloaded) backend.upload(s.param, s.master);
            else backend.convert(s.param, s.master);
        }
        this.step = stepCount;
    }

    private void masterFromParam(Slot s) {
        if (!offloaded) {
            backend.convert(s.master, s.param);
            return;
        }
        backend.downloadF32(s.master, s.param);
    }

    @Override
    public void close() {
        if (toHost != null) toHost.abandon();  // a copy still under way writes into this arena's memory
        arena.close();
    }
}
