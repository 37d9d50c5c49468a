package org.gpt4llm.backend;

import java.lang.foreign.Arena;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.memory.MemoryLedger;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The operations model code is written against. Every backend (cpu, cuda, cuda-emu) implements the
 * same semantics; the C ABI comments in {@code native/include/g4_cpu.h} are the reference for each op
 * (shapes, which outputs are overwritten and which accumulate). Tensors are row-major; token ids,
 * positions and segment ids are I32 tensors.
 */
public interface Backend extends AutoCloseable {
    /** "cpu", "cuda" or "cuda-emu". */
    String name();

    /** Worker threads this backend's kernels use (GEMM and our own kernels alike). */
    int threads();

    /** Storage type of activations (F32 on the CPU, BF16 on a GPU). */
    default DType activationType() {
        return DType.F32;
    }

    /**
     * Bytes of the scratch this backend keeps for the LoRA forward and backward of one adapter of
     * {@code rows} tokens, {@code in} inputs, {@code out} outputs and rank {@code rank} (0: none);
     * the scratch grows to the largest adapter's need and is counted as {@link MemoryCategory#WORKSPACE}.
     */
    default long loraWorkspaceBytes(long rows, long in, long out, long rank, float dropout) {
        return 0;
    }

    /** Storage type of the weights the kernels read (BF16 on a GPU, with fp32 master weights in the optimizer). */
    default DType weightType() {
        return DType.F32;
    }

    /**
     * Storage type of a model parameter of this shape: {@link #weightType}, except where a backend keeps
     * some parameters wider (the CPU with half-precision weights keeps vectors, norms and biases, in fp32).
     */
    default DType parameterType(long... shape) {
        return weightType();
    }

    /**
     * Storage type of weights that train (LoRA adapters, a reward head): {@link #weightType} with fp32
     * master weights in the optimizer on a GPU; fp32 on the CPU, whose half-precision weights only run frozen.
     */
    default DType trainedWeightType() {
        return weightType();
    }

    /**
     * A zero-filled tensor whose memory lives as long as {@code arena}, counted in {@link #memory()}
     * under {@code category} (what its owner keeps in it) until the arena closes.
     */
    Tensor allocate(Arena arena, MemoryCategory category, DType dtype, long... shape);

    /** {@link #allocate(Arena, MemoryCategory, DType, long...)} of a temporary buffer ({@link MemoryCategory#WORKSPACE}). */
    default Tensor allocate(Arena arena, DType dtype, long... shape) {
        return allocate(arena, MemoryCategory.WORKSPACE, dtype, shape);
    }

    /** The live bytes of this backend's allocations by category, with their high-water mark. */
    MemoryLedger memory();

    /** dst = src (same dtype and element count). */
    void copy(Tensor dst, Tensor src);

    void zero(Tensor t);

    /** Host values into a tensor of this backend (I32). */
    void upload(Tensor dst, int[] values);

    /** A host tensor of any floating dtype into a tensor of this backend, converting to its dtype. */
    void upload(Tensor dst, Tensor host);

    /**
     * {@link #upload(Tensor, Tensor)} of weights read from a file, which also finds the first NaN or
     * infinite value of {@code host} in the same pass over its bytes that converts or copies them (a
     * multi-gigabyte checkpoint is read once): its index in row-major order, -1 when all are finite.
     */
    long uploadFinite(Tensor dst, Tensor host);

    /** A tensor's values on the host, as floats. */
    float[] download(Tensor src);

    /** A host copy of {@code src} (same dtype and shape) owned by {@code arena}. */
    Tensor toHost(Tensor src, Arena arena);

    /**
     * Whether this backend's tensors live in host memory (the CPU), so that what an offloaded optimizer
     * would move to the host is there already.
     */
    default boolean memoryIsHost() {
        return true;
    }

    /**
     * Zero-filled host memory that the host works on between copies to and from this backend, freed when
     * {@code arena} closes, counted as {@code category} on the host side of {@link #memory()}: page-locked on a GPU (copies at full bus speed, asynchronous), plain elsewhere.
     */
    default Tensor allocateHost(Arena arena, MemoryCategory category, DType dtype, long... shape) {
        Tensor t = Tensor.allocate(arena, dtype, shape);
        memory().track(arena, MemoryLedger.Side.HOST, category, t.byteSize());
        return t;
    }

    /** {@code host} = {@code src} (same dtype and element count), {@code host} being host memory; waits for the copy. */
    default void download(Tensor host, Tensor src) {
        if (host.dtype() != src.dtype() || host.numel() != src.numel()) {
            throw new IllegalArgumentException("download of " + src + " into " + host);
        }
        host.copyFrom(src);
    }

    /**
     * Copies each of {@code srcs} into the matching one of {@code hosts} (same dtype and element count; host
     * memory from {@link #allocateHost}), then zeroes the {@code srcs}: after the work queued so far, and on a
     * GPU beside the work queued afterwards (a second stream), so the host waits for nothing here. Before
     * the host reads {@code hosts}, {@link HostCopy#await}; before work that writes the {@code srcs} again is
     * queued, {@link HostCopy#orderCompute}. Where there is one stream (here) it is done at once.
     */
    default HostCopy downloadAndZeroBehind(java.util.List<Tensor> hosts, java.util.List<Tensor> srcs) {
        HostCopy.requireMatching(hosts, srcs);
        for (int i = 0; i < srcs.size(); i++) {
            download(hosts.get(i), srcs.get(i));
            zero(srcs.get(i));
        }
        return HostCopy.DONE;
    }

    /** Copies to the host under way ({@link #downloadAndZeroBehind}). */
    interface HostCopy extends AutoCloseable {
        /** Copies that were done when they were asked for. */
        HostCopy DONE = new HostCopy() {
            @Override
            public void orderCompute() {}

            @Override
            public void await() {}

            @Override
            public void close() {}
        };

        /** The work queued from now on (which may write the copied tensors) waits for the copies and the zero fills; the host does not. */
        void orderCompute();

        /** The host waits for the copies: the host buffers hold the values then. */
        void await();

        /** Releases what tracks the copies; it does not wait for them. */
        @Override
        void close();

        static void requireMatching(java.util.List<Tensor> hosts, java.util.List<Tensor> srcs) {
            if (hosts.size() != srcs.size()) {
                throw new IllegalArgumentException(srcs.size() + " tensors to copy into " + hosts.size() + " host buffers");
            }
            for (int i = 0; i < srcs.size(); i++) {
                Tensor h = hosts.get(i), s = srcs.get(i);
                if (h.dtype() != s.dtype() || h.numel() != s.numel()) throw new IllegalArgumentException("download of " + s + " into " + h);
            }
        }
    }

    /** dst = src converted between floating dtypes (F32 and BF16); same element count. */
    void convert(Tensor dst, Tensor src);

    /**
     * {@code host} (F32, host memory) = {@code src} converted to F32: where an offloaded optimizer's
     * master weights start from. Waits for the copy. Here memory is the host's, so it is {@link #convert}.
     */
    default void downloadF32(Tensor host, Tensor src) {
        convert(host, src);
    }

    /** Row-major 2-D {@code C = alpha * op(A) op(B) + beta * C}; shapes are checked. */
    void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, float alpha, float beta);

    /**
     * {@code ys[i] = x · ws[i]ᵀ} (overwrite) for each i: several projections of one input, a layer's q,
     * k and v or its gate and up. A backend may run them as one operation; by default, a {@link #matmul}
     * each.
     */
    default void matmulSharedInput(Tensor[] ys, Tensor x, Tensor[] ws) {
        if (ys.length != ws.length) throw new IllegalArgumentException(ys.length + " outputs for " + ws.length + " weights");
        for (int i = 0; i < ys.length; i++) matmul(ys[i], x, false, ws[i], true, 1f, 0f);
    }

    void embeddingForward(Tensor out, Tensor tokens, Tensor table);

    void embeddingBackward(Tensor dtable, Tensor tokens, Tensor dout);

    void rmsnormForward(Tensor y, Tensor rstd, Tensor x, Tensor weight, float eps);

    void rmsnormBackward(Tensor dx, Tensor dweight, Tensor dy, Tensor x, Tensor weight, Tensor rstd);

    /**
     * LayerNorm with PyTorch's semantics (biased variance, eps inside the root) over the rows of x [N, C]:
     * {@code y = (x - mean) * rstd * weight + bias} (overwrite), saving mean and rstd (F32 [N]).
     */
    void layernormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps);

    /**
     * The backward of {@link #layernormForward}: {@code dx} += the input gradient, {@code dweight} +=
     * Σ_rows dy·xhat and {@code dbias} += Σ_rows dy (both F32 [C]), xhat = (x - mean) * rstd.
     */
    void layernormBackward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dy, Tensor x, Tensor weight, Tensor mean,
                           Tensor rstd);

    /** y = max(x, 0), element-wise (overwrite; y may be x). */
    void reluForward(Tensor y, Tensor x);

    /** dx = x > 0 ? dy : 0, element-wise from the forward's input x (overwrite; dx may be dy). */
    void reluBackward(Tensor dx, Tensor dy, Tensor x);

    /**
     * The pairwise reward-model loss of {@code kernels/reward_loss.cu}: over every pair (i, j) of one
     * group with gold_i > gold_j (ties give no pair), {@code loss} (F32 [1]) = the mean of
     * {@code -log σ(r_i - r_j - margin) + centerCoef (r_i + r_j)²} and {@code dr} (F32 [M]) its gradient
     * with respect to the rewards r (F32 [M]); both overwritten. Group g holds responses
     * [offsets[g], offsets[g+1]) of offsets (I32 [G+1], from 0 to M). {@code hostGold} and
     * {@code hostOffsets} are the values of gold (F32 [M]) and offsets on the host, where the pairs are
     * counted. Returns the pair count P; with P = 0 loss and dr are 0.
     */
    int rewardPairwiseLoss(Tensor loss, Tensor dr, Tensor r, Tensor gold, Tensor offsets, float[] hostGold,
                           int[] hostOffsets, float margin, float centerCoef);

    /**
     * The DPO loss of {@code kernels/dpo_loss.cu} over P preference pairs: from the summed response
     * log-probabilities of the chosen and the rejected responses under the policy ({@code policyChosen},
     * {@code policyRejected}) and the reference ({@code refChosen}, {@code refRejected}, or both null:
     * zeros), all F32 [P], {@code loss} (F32 [1]) = the mean of {@code settings}' loss, {@code metrics}
     * (F32 [4]) = TRL's {@link DpoLoss#METRICS}, and {@code dChosen}, {@code dRejected} (F32 [P]) its
     * gradient with respect to the policy's log-probabilities; all four overwritten.
     */
    void dpoLoss(Tensor loss, Tensor metrics, Tensor dChosen, Tensor dRejected, Tensor policyChosen,
                 Tensor policyRejected, Tensor refChosen, Tensor refRejected, DpoLoss settings);

    /**
     * The summed target log-probabilities of the B = {@code logp.numel()} sequences of
     * {@code tokenLosses} (F32 [B*T], the per-token losses {@link #crossEntropy} writes: -log p(target),
     * 0 where ignored) into {@code logp} (F32 [B], overwritten): {@code logp[b] = -Σ_t tokenLosses[b*T + t]}.
     */
    void sequenceLogProbs(Tensor logp, Tensor tokenLosses);

    /**
     * A training step's use of {@link #dpoLoss}'s outputs for P pairs ({@code loss}, {@code metrics},
     * {@code dChosen}, {@code dRejected}), nothing read back: {@code step}'s loss sum += P·loss,
     * {@code metricSums} (F32 [4]) += P·metrics, and {@code rowScales} (F32 [2P], overwritten) = the
     * cross-entropy gradient scale of each chosen, then rejected sequence, {@code -P·d·step's gradient
     * scale}: {@link #crossEntropy(Tensor, Tensor, Tensor, Tensor, int[], int, Tensor)} with them gives
     * the step's scaled gradient of the pairs' summed loss.
     */
    void dpoStep(StepScalars step, Tensor metricSums, Tensor rowScales, Tensor loss, Tensor metrics, Tensor dChosen,
                 Tensor dRejected);

    /** x [N, heads*headDim] rotated in place; positions [N]. */
    void ropeForward(Tensor x, Tensor positions, int heads, int headDim, float theta);

    void ropeBackward(Tensor dx, Tensor positions, int heads, int headDim, float theta);

    /** q/out [B,T,Hq,D], k/v [B,T,Hkv,D], lse [B,Hq,T], segments [B,T] or null. */
    void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments,
                          AttentionShape shape);

    void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                           Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape);

    /** F32 elements of the scratch {@link #attentionBackward} needs for {@code shape}; 0 when it needs none. */
    default long attentionWorkspaceElements(AttentionShape shape) {
        return 0;
    }

    /**
     * {@link #attentionBackward} with the caller's scratch: {@code workspace} is F32 with at least
     * {@link #attentionWorkspaceElements} elements (any contents), or null when that is 0. A GPU
     * otherwise allocates, waits for and frees its scratch in every call.
     */
    default void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                                   Tensor k, Tensor v, Tensor segments, AttentionShape shape, Tensor workspace) {
        attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, segments, shape);
    }

    /**
     * Appends new key (or value) rows to a KV cache: {@code src} [B, Tq, Hkv*D] row t of batch row b
     * goes to {@code cache} [B, maxLength, Hkv*D] at position {@code lengths[b] - Tq + t}, where
     * {@code lengths} (I32 [B]) counts row b's tokens including the new ones. Positions below 0 are
     * left padding of a row with fewer than Tq new tokens and are skipped; the rest of the cache is
     * untouched.
     */
    void kvCacheWrite(Tensor cache, Tensor src, Tensor lengths, DecodeShape shape);

    /**
     * Attention of Tq new queries per row against a KV cache: {@code q}, {@code out} [B, Tq, Hq, D],
     * {@code kCache}, {@code vCache} [B, maxLength, Hkv, D], {@code lengths} I32 [B] as in
     * {@link #kvCacheWrite}. Query t of row b, at position p = lengths[b] - Tq + t, attends causally to
     * cache positions 0..p (GQA: query head h reads kv head h / (Hq/Hkv)) with softmax(scale q·k) in
     * fp32; out = 0 where p &lt; 0 (left padding). {@code out} is overwritten.
     */
    void attentionDecode(Tensor out, Tensor q, Tensor kCache, Tensor vCache, Tensor lengths, DecodeShape shape);

    void swigluForward(Tensor h, Tensor gate, Tensor up);

    void swigluBackward(Tensor dgate, Tensor dup, Tensor dh, Tensor gate, Tensor up);

    /**
     * Per-row losses of a fused softmax cross-entropy; when {@code dlogits} is not null it receives
     * {@code (softmax - onehot) * gradScale} (it may be {@code logits} itself). Returns the number of
     * targets that were not {@code ignoreIndex}.
     */
    int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int ignoreIndex, float gradScale);

    /**
     * One AdamW update of {@code master} (F32), then {@code param} = master in the param's dtype; when the
     * parameter is itself F32, {@code master} is null and the update is in place.
     */
    void adamw(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, AdamW hp, float lr, int step,
               float gradScale);

    double sumOfSquares(Tensor x);

    // ---- a training step without host round trips (see StepScalars) ----------------------------------

    /** Step scalars for this backend: a block in its memory on a GPU, fields on the host otherwise. The caller closes them. */
    default StepScalars stepScalars() {
        return StepScalars.onHost();
    }

    /**
     * {@link #crossEntropy} within a training step: {@code hostTargets} are the values of
     * {@code targets} on the host (checked there, so a GPU reads nothing back) and, when {@code dlogits}
     * is not null, the gradient scale is {@code step}'s, read where the step's scalars live.
     */
    default int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int[] hostTargets,
                             int ignoreIndex, StepScalars step) {
        return crossEntropy(losses, dlogits, logits, targets, ignoreIndex, dlogits == null ? 0f : step.gradScale());
    }

    /**
     * {@link #crossEntropy} whose gradient row n (when {@code dlogits} is not null) is scaled by
     * {@code rowScales[n / (N / R)]} (F32 [R], read where the backend keeps it, R dividing N): a weight per
     * sequence of N / R rows, as {@link #dpoStep} writes them; {@code hostTargets} as in the step form.
     */
    int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int[] hostTargets, int ignoreIndex,
                     Tensor rowScales);

    /**
     * {@code step}'s loss sum += Σ {@code losses} (F32, the per-row losses of {@code terms} loss terms): a
     * reduction where the scalars live, nothing read back. On the host the sum is taken as the mean a
     * forward reports (a float) times its terms, so that a model reporting its mean adds the same.
     */
    default void addLoss(StepScalars step, Tensor losses, int terms) {
        if (terms == 0) return;
        double s = 0;
        for (float v : download(losses)) s += v;
        step.addHostLoss((double) (float) (s / terms) * terms);
    }

    /**
     * {@code step}'s sum of squares = Σ over {@code grads} of Σ x², and its clip factor for a global norm
     * of at most {@code maxNorm} (0: no clipping), without reading anything back. A sum of squares or
     * loss sum that is not finite marks the step, and its AdamW update then changes nothing.
     */
    default void clipGradients(StepScalars step, java.util.Collection<Tensor> grads, float maxNorm) {
        step.setHostNorm(sumOfSquares(grads), maxNorm);
    }

    /**
     * {@link #adamw(Tensor, Tensor, Tensor, Tensor, Tensor, AdamW, float, int, float) AdamW} with the
     * learning rate, bias corrections and clip factor of {@code step}, read where its scalars live;
     * nothing changes when {@link #clipGradients} marked the step.
     */
    default void adamw(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, AdamW hp, StepScalars step) {
        if (step.hostSkips()) return;
        adamw(param, master, grad, m, v, hp, step.lr(), step.step(), step.hostClip());
    }

    /** {@link #loraForward} with the mask seed {@link LoraDropout#adapterSeed} of {@code step}'s dropout seed and adapter {@code adapter}. */
    default void loraForward(Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale, float dropout,
                             StepScalars step, int adapter) {
        loraForward(y, t, x, a, b, scale, dropout, LoraDropout.adapterSeed(step.dropoutSeed(), adapter));
    }

    /** {@link #loraBackward} with the mask seed of {@link #loraForward(Tensor, Tensor, Tensor, Tensor, Tensor, float, float, StepScalars, int)}. */
    default void loraBackward(Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a, Tensor b,
                              Tensor t, float scale, float dropout, StepScalars step, int adapter) {
        loraBackward(dx, dA, dB, dt, dy, x, a, b, t, scale, dropout, LoraDropout.adapterSeed(step.dropoutSeed(), adapter));
    }

    /** Whether {@link #captureGraph} works here: the GPU backends. */
    default boolean supportsGraphs() {
        return false;
    }

    /**
     * Records the device work {@code body} queues, without running it, as a graph whose
     * {@link Graph#launch} replays it: a CUDA graph. Every kernel argument keeps its captured value, so
     * what changes between replays must come from memory (see {@link StepScalars}).
     */
    default Graph captureGraph(Runnable body) {
        throw new UnsupportedOperationException("the " + name() + " backend has no graphs (a cuda backend has)");
    }

    /** Sum of squares over several tensors (a global gradient norm); a GPU sums them all before one read-back. */
    default double sumOfSquares(java.util.Collection<Tensor> xs) {
        double s = 0;
        for (Tensor x : xs) s += sumOfSquares(x);
        return s;
    }

    void scale(Tensor x, float s);

    /** y = a + b, element-wise; y may be a or b. */
    void add(Tensor y, Tensor a, Tensor b);

    /**
     * The LoRA adapter path of one linear layer: {@code y} [N, out] += scale * (dropout(x) Aᵀ) Bᵀ with
     * x [N, in], A [r, in], B [out, r] (x, y, A, B in the backend's storage types), saving {@code t}
     * = dropout(x) Aᵀ (F32 [N, r], overwritten) for the backward. The dropout mask is
     * {@link LoraDropout#scale} of {@code seed} at (row of x, column of x); p = 0 disables it.
     */
    void loraForward(Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale, float dropout, long seed);

    /**
     * The backward of {@link #loraForward} from {@code dy} [N, out], with the forward's {@code t},
     * scale, dropout and seed: {@code dt} (F32 [N, r], a workspace) = scale * dy B; {@code dx} [N, in]
     * += mask ⊙ (dt A), skipped when null; {@code dB} (F32 [out, r]) += scale * dyᵀ t; {@code dA}
     * (F32 [r, in]) += dtᵀ dropout(x).
     */
    void loraBackward(Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a, Tensor b, Tensor t,
                      float scale, float dropout, long seed);

    /** Opens a named range on the profiler timeline (NVTX on a GPU); ranges nest. */
    default void rangePush(String name) {}

    default void rangePop() {}

    @Override
    default void close() {}

    /** Captured device work ({@link #captureGraph}), replayed by each {@link #launch}. */
    interface Graph extends AutoCloseable {
        /** Queues the whole recorded work again. */
        void launch();

        @Override
        void close();
    }

    /** Shapes of one attention call. */
    record AttentionShape(int batch, int seqLen, int heads, int kvHeads, int headDim, float scale) {
        public AttentionShape {
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException(heads + " attention heads are not a multiple of " + kvHeads + " kv heads");
            }
        }
    }

    /**
     * Shapes of one decoding call: {@code batch} rows, {@code newTokens} (Tq) queries per row, caches of
     * {@code maxLength} positions per row.
     */
    record DecodeShape(int batch, int newTokens, int maxLength, int heads, int kvHeads, int headDim, float scale) {
        public DecodeShape {
            if (batch < 0 || newTokens < 0 || maxLength < 1 || heads < 1 || kvHeads < 1 || headDim < 1) {
                throw new IllegalArgumentException("bad decode shape: batch " + batch + ", " + newTokens
                        + " new tokens, max length " + maxLength + ", " + heads + " heads, " + kvHeads
                        + " kv heads, head dim " + headDim);
            }
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException(heads + " attention heads are not a multiple of " + kvHeads + " kv heads");
            }
        }

        /** Elements of one cache position: kvHeads * headDim. */
        public long kvWidth() {
            return (long) kvHeads * headDim;
        }
    }

    /**
     * AdamW hyper-parameters that stay fixed over a run (the learning rate follows the schedule), and
     * the scalars of one update computed from them in fp64 as PyTorch computes them in Python, then
     * rounded to fp32: the GPU kernels take these, the CPU kernel computes the same from lr and step.
     */
    record AdamW(float beta1, float beta2, float eps, float weightDecay) {
        public static final AdamW DEFAULT = new AdamW(0.9f, 0.999f, 1e-8f, 0f);

        /** 1 - lr * weight decay: the decoupled decay's factor on the weights. */
        public float decay(float lr) {
            return (float) (1.0 - (double) lr * weightDecay);
        }

        /** lr / (1 - beta1^step), the first moment's bias correction folded into the step size. */
        public float stepSize(float lr, int step) {
            return (float) (lr / (1.0 - Math.pow(beta1, step)));
        }

        /** 1 / sqrt(1 - beta2^step), the second moment's bias correction. */
        public float invBc2s(int step) {
            return (float) (1.0 / Math.sqrt(1.0 - Math.pow(beta2, step)));
        }
    }
}
