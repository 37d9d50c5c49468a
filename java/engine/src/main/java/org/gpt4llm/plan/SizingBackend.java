package org.gpt4llm.plan;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.kernels.AttentionKernels;
import org.gpt4llm.backend.cuda.kernels.LoraKernels;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.memory.MemoryLedger;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * A backend that allocates nothing and runs nothing: it counts, in its {@link MemoryLedger}, the
 * allocations that the engine's own classes (model, adapters, activations, optimizer) make on it,
 * with the storage types and scratch sizes of the backend it stands for. A plan built on it sizes
 * exactly the buffers a run on that backend allocates. Its tensors have no memory behind them:
 * uploads, copies and conversions do nothing and every computation is refused.
 */
final class SizingBackend implements Backend {
    private final String name;
    private final boolean gpu;
    private final MemoryLedger memory = new MemoryLedger();

    /** Stands for backend {@code name} (cpu, cuda or cuda-emu). */
    SizingBackend(String name) {
        this.name = Backends.checkName(name).toLowerCase(Locale.ROOT);
        this.gpu = !this.name.equals("cpu");
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int threads() {
        return 1;
    }

    @Override
    public DType activationType() {
        return gpu ? CudaBackend.STORAGE_TYPE : DType.F32;
    }

    @Override
    public DType weightType() {
        return gpu ? CudaBackend.STORAGE_TYPE : DType.F32;
    }

    @Override
    public long attentionWorkspaceElements(AttentionShape shape) {
        return gpu ? AttentionKernels.workspaceElements(shape) : 0;
    }

    @Override
    public long loraWorkspaceBytes(long rows, long in, long out, long rank, float dropout) {
        return gpu ? LoraKernels.workspaceBytes(rows, in, out, rank, dropout) : 0;
    }

    @Override
    public StepScalars stepScalars() {
        return gpu ? StepScalars.inMemoryOf(this) : StepScalars.onHost();
    }

    @Override
    public Tensor allocate(Arena arena, MemoryCategory category, DType dtype, long... shape) {
        long bytes = Tensor.numel(shape) * dtype.bytes();
        memory.track(arena, MemoryLedger.Side.DEVICE, category, bytes);
        return Tensor.wrap(MemorySegment.NULL.reinterpret(bytes), dtype, shape);
    }

    @Override
    public boolean memoryIsHost() {
        return !gpu;
    }

    @Override
    public Tensor allocateHost(Arena arena, MemoryCategory category, DType dtype, long... shape) {
        long bytes = Tensor.numel(shape) * dtype.bytes();
        memory.track(arena, MemoryLedger.Side.HOST, category, bytes);
        return Tensor.wrap(MemorySegment.NULL.reinterpret(bytes), dtype, shape);
    }

    @Override
    public MemoryLedger memory() {
        return memory;
    }

    // ---- what building a model, its adapters and its optimizer calls: nothing to do without memory ----

    @Override
    public void copy(Tensor dst, Tensor src) {}

    @Override
    public void zero(Tensor t) {}

    @Override
    public void upload(Tensor dst, int[] values) {}

    @Override
    public void upload(Tensor dst, Tensor host) {}

    @Override
    public long uploadFinite(Tensor dst, Tensor host) {
        return -1;
    }

    @Override
    public void convert(Tensor dst, Tensor src) {}

    // ---- computations: refused ----

    private UnsupportedOperationException refused() {
        return new UnsupportedOperationException("a backend that only sizes allocations runs nothing");
    }

    @Override
    public float[] download(Tensor src) {
        throw refused();
    }

    @Override
    public Tensor toHost(Tensor src, Arena arena) {
        throw refused();
    }

    @Override
    public void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, float alpha, float beta) {
        throw refused();
    }

    @Override
    public void embeddingForward(Tensor out, Tensor tokens, Tensor table) {
        throw refused();
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor tokens, Tensor dout) {
        throw refused();
    }

    @Override
    public void rmsnormForward(Tensor y, Tensor rstd, Tensor x, Tensor weight, float eps) {
        throw refused();
    }

    @Override
    public void rmsnormBackward(Tensor dx, Tensor dweight, Tensor dy, Tensor x, Tensor weight, Tensor rstd) {
        throw refused();
    }

    @Override
    public void layernormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
        throw refused();
    }

    @Override
    public void layernormBackward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dy, Tensor x, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        throw refused();
    }

    @Override
    public void reluForward(Tensor y, Tensor x) {
        throw refused();
    }

    @Override
    public void reluBackward(Tensor dx, Tensor dy, Tensor x) {
        throw refused();
    }

    @Override
    public int rewardPairwiseLoss(Tensor loss, Tensor dr, Tensor r, Tensor gold, Tensor offsets, float[] hostGold,
                                  int[] hostOffsets, float margin, float centerCoef) {
        throw refused();
    }

    @Override
    public void dpoLoss(Tensor loss, Tensor metrics, Tensor dChosen, Tensor dRejected, Tensor policyChosen,
                        Tensor policyRejected, Tensor refChosen, Tensor refRejected, DpoLoss settings) {
        throw refused();
    }

    @Override
    public void sequenceLogProbs(Tensor logp, Tensor tokenLosses) {
        throw refused();
    }

    @Override
    public void dpoStep(StepScalars step, Tensor metricSums, Tensor rowScales, Tensor loss, Tensor metrics,
                        Tensor dChosen, Tensor dRejected) {
        throw refused();
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int[] hostTargets,
                            int ignoreIndex, Tensor rowScales) {
        throw refused();
    }

    @Override
    public void ropeForward(Tensor x, Tensor positions, int heads, int headDim, float theta) {
        throw refused();
    }

    @Override
    public void ropeBackward(Tensor dx, Tensor positions, int heads, int headDim, float theta) {
        throw refused();
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments,
                                 AttentionShape shape) {
        throw refused();
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                                  Tensor k, Tensor v, Tensor segments, AttentionShape shape) {
        throw refused();
    }

    @Override
    public void kvCacheWrite(Tensor cache, Tensor src, Tensor lengths, DecodeShape shape) {
        throw refused();
    }

    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kCache, Tensor vCache, Tensor lengths, DecodeShape shape) {
        throw refused();
    }

    @Override
    public void swigluForward(Tensor h, Tensor gate, Tensor up) {
        throw refused();
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dh, Tensor gate, Tensor up) {
        throw refused();
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int ignoreIndex,
                            float gradScale) {
        throw refused();
    }

    @Override
    public void adamw(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, AdamW hp, float lr, int step,
                      float gradScale) {
        throw refused();
    }

    @Override
    public double sumOfSquares(Tensor x) {
        throw refused();
    }

    @Override
    public void scale(Tensor x, float s) {
        throw refused();
    }

    @Override
    public void add(Tensor y, Tensor a, Tensor b) {
        throw refused();
    }

    @Override
    public void loraForward(Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale, float dropout, long seed) {
        throw refused();
    }

    @Override
    public void loraBackward(Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a, Tensor b,
                             Tensor t, float scale, float dropout, long seed) {
        throw refused();
    }
}
