package org.gpt4llm.backend.cuda;

import java.lang.foreign.Arena;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.memory.MemoryLedger;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.kernels.ActivationKernels;
import org.gpt4llm.backend.cuda.kernels.AdamWKernels;
import org.gpt4llm.backend.cuda.kernels.AttentionDecodeKernels;
import org.gpt4llm.backend.cuda.kernels.AttentionKernels;
import org.gpt4llm.backend.cuda.kernels.CrossEntropyKernels;
import org.gpt4llm.backend.cuda.kernels.DpoLossKernels;
import org.gpt4llm.backend.cuda.kernels.EmbeddingKernels;
import org.gpt4llm.backend.cuda.kernels.LoraKernels;
import org.gpt4llm.backend.cuda.kernels.NormClipKernels;
import org.gpt4llm.backend.cuda.kernels.NormKernels;
import org.gpt4llm.backend.cuda.kernels.RewardLossKernels;
import org.gpt4llm.backend.cuda.kernels.RopeKernels;
import org.gpt4llm.backend.cuda.kernels.StepKernels;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.EmuDevice;

/**
 * The GPU backend: bf16 activations and weights, fp32 gradients, master weights, optimizer state and
 * accumulation; kernels from {@code kernels/} launched through a {@link Device} (a real GPU through
 * JCuda, or the CPU emulation for {@code cuda-emu}), GEMM through the device (cuBLAS or OpenBLAS).
 */
public final class CudaBackend implements Backend {
    /** The storage type of weights and activations here (gradients, master weights and moments are fp32). */
    public static final DType STORAGE_TYPE = DType.BF16;

    private final Device device;
    private final MemoryLedger memory = new MemoryLedger();
    private final Arena scratchArena = Arena.ofShared();
    private final Tensor sumsq;
    private final LoraKernels.Workspace loraWorkspace;

    public CudaBackend(Device device) {
        this.device = device;
        this.sumsq = allocate(scratchArena, MemoryCategory.WORKSPACE, DType.F32, 1);
        this.loraWorkspace = new LoraKernels.Workspace(device, memory);
    }

    public Device device() {
        return device;
    }

    @Override
    public String name() {
        return device instanceof EmuDevice ? "cuda-emu" : "cuda";
    }

    /** One host thread drives a GPU; the emulation runs its blocks on its worker threads. */
    @Override
    public int threads() {
        return device instanceof EmuDevice emu ? emu.workers() : 1;
    }

    @Override
    public DType activationType() {
        return STORAGE_TYPE;
    }

    @Override
    public DType weightType() {
        return STORAGE_TYPE;
    }

    @Override
    public Tensor allocate(Arena arena, MemoryCategory category, DType dtype, long... shape) {
        Tensor t = device.allocate(arena, dtype, shape);
        memory.track(arena, MemoryLedger.Side.DEVICE, category, t.byteSize());
        return t;
    }

    @Override
    public MemoryLedger memory() {
        return memory;
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        if (dst.dtype() != src.dtype() || dst.numel() != src.numel()) {
            throw new IllegalArgumentException("copy of " + src + " into " + dst);
        }
        device.copy(dst, src);
    }

    @Override
    public void zero(Tensor t) {
        device.zero(t);
    }

    @Override
    public void upload(Tensor dst, int[] values) {
        if (dst.dtype() != DType.I32 || dst.numel() != values.length) {
            throw new IllegalArgumentException("upload of " + values.length + " ints into " + dst);
        }
        try (Arena host = Arena.ofConfined()) {
            MemorySegment seg = host.allocate(ValueLayout.JAVA_INT, values.length);
            MemorySegment.copy(values, 0, seg, ValueLayout.JAVA_INT, 0, values.length);
            device.upload(dst, seg);
        }
    }

    @Override
    public void upload(Tensor dst, Tensor host) {
        if (dst.numel() != host.numel()) throw new IllegalArgumentException("upload of " + host + " into " + dst);
        try (Arena staging = Arena.ofConfined()) {
            // convert on the host, then one copy of the final bytes
            Tensor converted = host;
            if (host.dtype() != dst.dtype()) {
                converted = Tensor.allocate(staging, dst.dtype(), dst.shape());
                CpuBackend.convertOnHost(converted, host);
            }
            device.upload(dst, converted.data());
        }
    }

    @Override
    public long uploadFinite(Tensor dst, Tensor host) {
        if (dst.numel() != host.numel()) throw new IllegalArgumentException("upload of " + host + " into " + dst);
        try (Arena staging = Arena.ofConfined()) {
            // the copy into the staging buffer is the pass that checks the values
            Tensor converted = Tensor.allocate(staging, dst.dtype(), dst.shape());
            long bad = CpuBackend.convertFinite(converted, host);
            device.upload(dst, converted.data());
            return bad;
        }
    }

    @Override
    public float[] download(Tensor src) {
        try (Arena host = Arena.ofConfined()) {
            return toHost(src, host).toFloatArray();
        }
    }

    @Override
    public Tensor toHost(Tensor src, Arena arena) {
        Tensor t = Tensor.allocate(arena, src.dtype(), src.shape());
        device.download(t.data(), src);
        return t;
    }

    @Override
    public boolean memoryIsHost() {
        return false;
    }

    @Override
    public void downloadF32(Tensor host, Tensor src) {
        try (Arena staging = Arena.ofConfined()) {
            CpuBackend.convertOnHost(host, toHost(src, staging));
        }
    }

    @Override
    public Tensor allocateHost(Arena arena, MemoryCategory category, DType dtype, long... shape) {
        Tensor t = device.allocateHost(arena, dtype, shape);
        memory.track(arena, MemoryLedger.Side.HOST, category, t.byteSize());
        return t;
    }

    @Override
    public void download(Tensor host, Tensor src) {
        if (host.dtype() != src.dtype() || host.numel() != src.numel()) {
            throw new IllegalArgumentException("download of " + src + " into " + host);
        }
        device.download(host.data(), src);
    }

    /**
     * On the device's copy stream: it waits for an event recorded on the compute stream now, copies and
     * zeroes, then records the event that {@link HostCopy#orderCompute} makes the compute stream wait for
     * and {@link HostCopy#await} makes the host wait for.
     */
    @Override
    public HostCopy downloadAndZeroBehind(java.util.List<Tensor> hosts, java.util.List<Tensor> srcs) {
        HostCopy.requireMatching(hosts, srcs);
        try (Device.Event computed = device.record(Device.Stream.COMPUTE)) {
            device.waitFor(Device.Stream.COPY, computed);
        }
        for (int i = 0; i < srcs.size(); i++) device.downloadBehind(hosts.get(i).data(), srcs.get(i));
        for (Tensor s : srcs) device.zeroBehind(s);
        Device.Event copied = device.record(Device.Stream.COPY);
        return new HostCopy() {
            @Override
            public void orderCompute() {
                device.waitFor(Device.Stream.COMPUTE, copied);
            }

            @Override
            public void await() {
                copied.synchronize();
            }

            @Override
            public void close() {
                copied.close();
            }
        };
    }

    @Override
    public void convert(Tensor dst, Tensor src) {
        if (dst.dtype() == src.dtype()) {
            copy(dst, src);
        } else if (dst.dtype() == DType.BF16 && src.dtype() == DType.F32) {
            ActivationKernels.f32ToBf16(device, dst, src);
        } else if (dst.dtype() == DType.F32 && src.dtype() == DType.BF16) {
            ActivationKernels.bf16ToF32(device, dst, src);
        } else {
            throw new IllegalArgumentException("no conversion from " + src.dtype() + " to " + dst.dtype() + " on " + name());
        }
    }

    @Override
    public void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, float alpha, float beta) {
        if (a.rank() != 2 || b.rank() != 2 || c.rank() != 2) {
            throw new IllegalArgumentException("matmul takes 2-D tensors, got " + a + ", " + b + ", " + c);
        }
        int m = (int) (transA ? a.dim(1) : a.dim(0)), k = (int) (transA ? a.dim(0) : a.dim(1));
        int kb = (int) (transB ? b.dim(1) : b.dim(0)), n = (int) (transB ? b.dim(0) : b.dim(1));
        if (k != kb || c.dim(0) != m || c.dim(1) != n) {
            throw new IllegalArgumentException("matmul shapes do not agree: " + c + " = " + a + (transA ? "ᵀ" : "")
                    + " · " + b + (transB ? "ᵀ" : ""));
        }
        device.gemm(transA, transB, m, n, k, alpha, a, (int) a.dim(1), b, (int) b.dim(1), beta, c, n);
    }

    @Override
    public void embeddingForward(Tensor out, Tensor tokens, Tensor table) {
        EmbeddingKernels.embeddingForward(device, out, tokens, table);
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor tokens, Tensor dout) {
        EmbeddingKernels.embeddingBackward(device, dtable, tokens, dout);
    }

    @Override
    public void rmsnormForward(Tensor y, Tensor rstd, Tensor x, Tensor weight, float eps) {
        NormKernels.rmsnormForward(device, y, rstd, x, weight, eps);
    }

    @Override
    public void rmsnormBackward(Tensor dx, Tensor dweight, Tensor dy, Tensor x, Tensor weight, Tensor rstd) {
        NormKernels.rmsnormBackward(device, dx, dweight, dy, x, weight, rstd);
    }

    @Override
    public void ropeForward(Tensor x, Tensor positions, int heads, int headDim, float theta) {
        RopeKernels.ropeForward(device, x, positions, heads, headDim, theta);
    }

    @Override
    public void ropeBackward(Tensor dx, Tensor positions, int heads, int headDim, float theta) {
        RopeKernels.ropeBackward(device, dx, positions, heads, headDim, theta);
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments,
                                 AttentionShape shape) {
        AttentionKernels.attentionForward(device, out, lse, q, k, v, segments, shape);
    }

    @Override
    public void kvCacheWrite(Tensor cache, Tensor src, Tensor lengths, DecodeShape shape) {
        AttentionDecodeKernels.kvCacheWrite(device, cache, src, lengths, shape);
    }

    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kCache, Tensor vCache, Tensor lengths, DecodeShape shape) {
        AttentionDecodeKernels.attentionDecode(device, out, q, kCache, vCache, lengths, shape);
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                                  Tensor k, Tensor v, Tensor segments, AttentionShape shape) {
        AttentionKernels.attentionBackward(device, dq, dk, dv, dout, out, lse, q, k, v, segments, shape);
    }

    @Override
    public long loraWorkspaceBytes(long rows, long in, long out, long rank, float dropout) {
        return LoraKernels.workspaceBytes(rows, in, out, rank, dropout);
    }

    @Override
    public long attentionWorkspaceElements(AttentionShape shape) {
        return AttentionKernels.workspaceElements(shape);
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                                  Tensor k, Tensor v, Tensor segments, AttentionShape shape, Tensor workspace) {
        AttentionKernels.attentionBackward(device, dq, dk, dv, dout, out, lse, q, k, v, segments, shape, workspace);
    }

    @Override
    public void swigluForward(Tensor h, Tensor gate, Tensor up) {
        ActivationKernels.swigluForward(device, h, gate, up);
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dh, Tensor gate, Tensor up) {
        ActivationKernels.swigluBackward(device, dgate, dup, dh, gate, up);
    }

    @Override
    public void layernormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
        NormKernels.layernormForward(device, y, mean, rstd, x, weight, bias, eps);
    }

    @Override
    public void layernormBackward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dy, Tensor x, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        NormKernels.layernormBackward(device, dx, dweight, dbias, dy, x, weight, mean, rstd);
    }

    @Override
    public void reluForward(Tensor y, Tensor x) {
        ActivationKernels.reluForward(device, y, x);
    }

    @Override
    public void reluBackward(Tensor dx, Tensor dy, Tensor x) {
        ActivationKernels.reluBackward(device, dx, dy, x);
    }

    @Override
    public int rewardPairwiseLoss(Tensor loss, Tensor dr, Tensor r, Tensor gold, Tensor offsets, float[] hostGold,
                                  int[] hostOffsets, float margin, float centerCoef) {
        return RewardLossKernels.pairwiseLoss(device, loss, dr, r, gold, offsets, hostGold, hostOffsets, margin,
                centerCoef);
    }

    @Override
    public void dpoLoss(Tensor loss, Tensor metrics, Tensor dChosen, Tensor dRejected, Tensor policyChosen,
                        Tensor policyRejected, Tensor refChosen, Tensor refRejected, DpoLoss settings) {
        DpoLossKernels.dpoLoss(device, loss, metrics, dChosen, dRejected, policyChosen, policyRejected, refChosen,
                refRejected, settings);
    }

    @Override
    public void sequenceLogProbs(Tensor logp, Tensor tokenLosses) {
        DpoLossKernels.sequenceLogProbs(device, logp, tokenLosses);
    }

    @Override
    public void dpoStep(StepScalars step, Tensor metricSums, Tensor rowScales, Tensor loss, Tensor metrics,
                        Tensor dChosen, Tensor dRejected) {
        DpoLossKernels.step(device, mine(step).scalar(StepScalars.LOSS_SUM), metricSums, rowScales, loss, metrics, dChosen,
                dRejected, step.scalar(StepScalars.GRAD_SCALE));
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int[] hostTargets,
                            int ignoreIndex, Tensor rowScales) {
        return CrossEntropyKernels.crossEntropy(device, losses, dlogits, logits, targets, hostTargets, ignoreIndex, 1f, null,
                rowScales);
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int ignoreIndex,
                            float gradScale) {
        return CrossEntropyKernels.crossEntropy(device, losses, dlogits, logits, targets, ignoreIndex, gradScale);
    }

    @Override
    public void adamw(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, AdamW hp, float lr, int step,
                      float gradScale) {
        if (master == null) throw new IllegalArgumentException("the cuda backend keeps BF16 weights: AdamW needs an F32 master copy");
        AdamWKernels.adamw(device, param, master, grad, m, v, hp, lr, step, gradScale, null);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return sumOfSquares(java.util.List.of(x));
    }

    @Override
    public double sumOfSquares(java.util.Collection<Tensor> xs) {
        NormClipKernels.sumOfSquares(device, sumsq, java.util.List.copyOf(xs));  // zeroes, then accumulates all
        return download(sumsq)[0];
    }

    // ---- a training step on the device: every per-step value is read from the step's scalars ----

    @Override
    public StepScalars stepScalars() {
        return StepScalars.inMemoryOf(this);
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int[] hostTargets,
                            int ignoreIndex, StepScalars step) {
        return CrossEntropyKernels.crossEntropy(device, losses, dlogits, logits, targets, hostTargets, ignoreIndex, 0f,
                dlogits == null ? null : mine(step).scalar(StepScalars.GRAD_SCALE));
    }

    @Override
    public void addLoss(StepScalars step, Tensor losses, int terms) {
        StepKernels.lossSum(device, mine(step).scalar(StepScalars.LOSS_SUM), losses);
    }

    @Override
    public void clipGradients(StepScalars step, java.util.Collection<Tensor> grads, float maxNorm) {
        Tensor sumSq = mine(step).scalar(StepScalars.SUM_SQ);
        NormClipKernels.sumOfSquares(device, sumSq, java.util.List.copyOf(grads));
        StepKernels.clipFactor(device, step.scalar(StepScalars.CLIP), sumSq, step.scalar(StepScalars.LOSS_SUM), maxNorm);
    }

    @Override
    public void adamw(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, AdamW hp, StepScalars step) {
        if (master == null) throw new IllegalArgumentException("the cuda backend keeps BF16 weights: AdamW needs an F32 master copy");
        AdamWKernels.adamw(device, param, master, grad, m, v, hp, mine(step).decay(hp), step.scalar(StepScalars.STEP_SIZE),
                step.scalar(StepScalars.INV_BC2S), step.scalar(StepScalars.CLIP));
    }

    @Override
    public void loraForward(Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale, float dropout, StepScalars step,
                            int adapter) {
        LoraKernels.forward(device, loraWorkspace, y, t, x, a, b, scale, dropout, LoraKernels.MaskSeed.fromStep(mine(step).seed(), adapter));
    }

    @Override
    public void loraBackward(Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a, Tensor b,
                             Tensor t, float scale, float dropout, StepScalars step, int adapter) {
        LoraKernels.backward(device, loraWorkspace, dx, dA, dB, dt, dy, x, a, b, t, scale, dropout,
                LoraKernels.MaskSeed.fromStep(mine(step).seed(), adapter));
    }

    /** Step scalars this backend's kernels can read: in its own memory. */
    private StepScalars mine(StepScalars step) {
        if (!step.livesIn(this)) {
            throw new IllegalArgumentException("step scalars of another backend (or held on the host) given to " + this
                    + ": use its stepScalars()");
        }
        return step;
    }

    @Override
    public boolean supportsGraphs() {
        return true;
    }

    @Override
    public Graph captureGraph(Runnable body) {
        return device.captureGraph(body);
    }

    @Override
    public void scale(Tensor x, float s) {
        ActivationKernels.scale(device, x, s);
    }

    @Override
    public void add(Tensor y, Tensor a, Tensor b) {
        ActivationKernels.add(device, y, a, b);
    }

    @Override
    public void loraForward(Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale, float dropout, long seed) {
        LoraKernels.forward(device, loraWorkspace, y, t, x, a, b, scale, dropout, seed);
    }

    @Override
    public void loraBackward(Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a, Tensor b,
                             Tensor t, float scale, float dropout, long seed) {
        LoraKernels.backward(device, loraWorkspace, dx, dA, dB, dt, dy, x, a, b, t, scale, dropout, seed);
    }

    @Override
    public void rangePush(String name) {
        device.rangePush(name);
    }

    @Override
    public void rangePop() {
        device.rangePop();
    }

    @Override
    public void close() {
        device.synchronize();
        loraWorkspace.close();
        scratchArena.close();
        device.close();
    }

    @Override
    public String toString() {
        return name() + " (" + device.describe() + ")";
    }
}
