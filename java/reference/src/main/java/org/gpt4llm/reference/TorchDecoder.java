package org.gpt4llm.reference;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.model.TokenBatch;

/**
 * What the libtorch references of the decoder families share: fp32 leaves imported by HF name, the
 * attention mask from segments, attention itself, the LM head and its cross-entropy, autograd,
 * gradients and parameters by HF name, and libtorch's AdamW. A family ({@link TorchLlama},
 * {@link TorchOpt}) supplies the decoder stack up to the final norm and the head weight.
 *
 * <pre>
 * x      = decode(batch)                 final hidden states after the final norm   [B,T,C]
 * logits = x·Wheadᵀ                                                                 [B*T,V]
 * loss   = mean cross-entropy over targets ≠ -100
 * </pre>
 * Every libtorch object a model keeps is created inside a scope and retained once, so it lives until
 * the model releases it, whatever scope the caller is in.
 */
public abstract sealed class TorchDecoder implements AutoCloseable permits TorchLlama, TorchOpt {
    /** Masked scores are -1e30, not -inf, so that fully masked padding rows stay finite. */
    private static final float MASKED = -1e30f;
    private static final long REDUCTION_MEAN = 1;

    /** Leaf tensors by HF name, in the order of the checkpoint (lm_head absent when tied), then any adapters. */
    final Map<String, Tensor> params = new LinkedHashMap<>();
    private final int threads;
    private Tensor loss;
    private Tensor logits;
    private Tensor hidden;
    private AdamW optimizer;
    private AdamWOptions optimizerOptions;

    /**
     * Copies {@code weights} (HF names, any floating dtype) into fp32 libtorch leaves, one per entry of
     * {@code shapes} and in its order; libtorch uses {@code threads} threads.
     */
    TorchDecoder(Map<String, long[]> shapes, Map<String, org.gpt4llm.tensor.Tensor> weights, int threads) {
        this.threads = threads;
        Torch.setThreads(threads);
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            org.gpt4llm.tensor.Tensor w = weights.get(e.getKey());
            if (w == null) throw new IllegalArgumentException("weight " + e.getKey() + " is missing");
            if (!Arrays.equals(w.shape(), e.getValue())) {
                throw new IllegalArgumentException("weight " + e.getKey() + " has shape " + Arrays.toString(w.shape())
                        + ", expected " + Arrays.toString(e.getValue()));
            }
            addParameter(e.getKey(), w.toFloatArray(), e.getValue());
        }
    }

    /** A trainable fp32 leaf {@code name} holding a copy of {@code values}. */
    final void addParameter(String name, float[] values, long... shape) {
        try (PointerScope scope = new PointerScope()) {
            Tensor leaf = Torch.floats(values, shape);
            leaf.set_requires_grad(true);
            params.put(name, keep(leaf));
        }
    }

    static <P extends Pointer> P keep(P p) {
        p.retainReference();
        return p;
    }

    /**
     * The decoder stack on one batch: the hidden states after the final norm, [B,T,C], with autograd
     * recording. Runs inside the caller's scope.
     */
    abstract Tensor decode(TokenBatch b);

    /** The LM head's weight [V, C] (the token embeddings when tied). */
    abstract Tensor head();

    /** The libtorch thread count this model was built with. */
    public final int threads() {
        return threads;
    }

    final Tensor p(String name) {
        return params.get(name);
    }

    /** Forward pass with autograd recording; returns the mean loss over targets that are not -100 (NaN if there are none). */
    public final float forward(TokenBatch b) {
        releaseStep();
        Torch.setThreads(threads);
        try (PointerScope scope = new PointerScope()) {
            Tensor w = head();
            long vocab = w.size(0);
            for (int i = 0; i < b.size(); i++) {
                int token = b.tokens()[i];
                if (token < 0 || token >= vocab) {
                    throw new IllegalArgumentException("token id " + token + " at batch index " + i + " is outside the vocabulary of " + vocab);
                }
            }
            Tensor x = decode(b);
            Tensor targets = Torch.longs(b.targets(), b.size());
            logits = torch.linear(x, w).reshape(b.size(), vocab);
            loss = torch.nll_loss(torch.log_softmax(logits, 1), targets, new TensorOptional(), REDUCTION_MEAN, TokenBatch.IGNORE);
            hidden = x;
            keep(logits);
            keep(loss);
            keep(hidden);
            return loss.item_float();
        }
    }

    /** The logits of the last forward, [B*T, V] row-major (rows of padding hold finite garbage). */
    public final float[] logits() {
        if (logits == null) throw new IllegalStateException("logits() before forward()");
        try (PointerScope scope = new PointerScope()) {
            return Torch.toFloats(logits.detach());
        }
    }

    /**
     * The final hidden states of the last forward (after the final norm), [B,T,C], as part of its
     * autograd graph: a loss built on them (a reward head, say) back-propagates into the parameters
     * through {@link #backward(Tensor)}. A new handle on the same tensor, owned by the caller's scope;
     * the graph behind it is released by the next forward or backward.
     */
    public final Tensor hidden() {
        if (hidden == null) throw new IllegalStateException("hidden() before forward()");
        return new Tensor(hidden);
    }

    /** Back-propagates the last forward's loss; gradients accumulate into the leaves until {@link #zeroGrad()}. */
    public final void backward() {
        if (loss == null) throw new IllegalStateException("backward() without a forward()");
        backward(loss);
    }

    /**
     * Back-propagates a scalar built on the last forward's {@link #hidden()} or logits; gradients
     * accumulate into the leaves until {@link #zeroGrad()}, and the forward's graph is released.
     */
    public final void backward(Tensor scalar) {
        if (hidden == null) throw new IllegalStateException("backward() without a forward()");
        if (scalar.numel() != 1) throw new IllegalArgumentException("backward() needs a scalar, got " + scalar.numel() + " elements");
        Torch.setThreads(threads);
        try (PointerScope scope = new PointerScope()) {
            scalar.backward();
        }
        releaseStep();
    }

    public final void zeroGrad() {
        try (PointerScope scope = new PointerScope()) {
            for (Tensor w : params.values()) {
                Tensor g = w.grad();
                if (g.defined()) g.zero_();
            }
        }
    }

    /** Gradients by HF name (zeros where none was computed yet). */
    public final Map<String, float[]> grads() {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                Tensor g = e.getValue().grad();
                out.put(e.getKey(), g.defined() ? Torch.toFloats(g) : new float[(int) e.getValue().numel()]);
            }
        }
        return out;
    }

    /** Current parameter values by HF name. */
    public final Map<String, float[]> parameters() {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) out.put(e.getKey(), Torch.toFloats(e.getValue().detach()));
        }
        return out;
    }

    final boolean hasOptimizer() {
        return optimizer != null;
    }

    /**
     * Creates libtorch's AdamW over all trainable parameters (one group, decoupled weight decay on every
     * parameter, as {@code torch.optim.AdamW(model.parameters())} does).
     */
    public final void useAdamW(float beta1, float beta2, float eps, float weightDecay) {
        if (optimizer != null) throw new IllegalStateException("useAdamW() called twice");
        try (PointerScope scope = new PointerScope()) {
            optimizerOptions = keep(Torch.adamWOptions(1e-3, beta1, beta2, eps, weightDecay));
            Tensor[] trainable = params.values().stream().filter(Tensor::requires_grad).toArray(Tensor[]::new);
            optimizer = keep(new AdamW(new TensorVector(trainable), optimizerOptions));
        }
    }

    /**
     * Clips the accumulated gradients to global norm {@code maxGradNorm} (as
     * {@code torch.nn.utils.clip_grad_norm_}: scale by max/(norm+1e-6) when that is below 1; no
     * clipping when {@code maxGradNorm <= 0}), takes one AdamW step at {@code lr} and zeroes the
     * gradients. Returns the global gradient norm before clipping.
     */
    public final float step(float lr, float maxGradNorm) {
        if (optimizer == null) throw new IllegalStateException("step() before useAdamW()");
        Torch.setThreads(threads);
        try (PointerScope scope = new PointerScope()) {
            List<Tensor> grads = new ArrayList<>();
            double sumSq = 0;
            for (Tensor w : params.values()) {
                Tensor g = w.grad();
                if (!g.defined()) continue;
                grads.add(g);
                float n = g.norm().item_float();
                sumSq += (double) n * n;
            }
            float norm = (float) Math.sqrt(sumSq);
            if (maxGradNorm > 0) {
                float coef = maxGradNorm / (norm + 1e-6f);
                if (coef < 1f) {
                    Scalar s = new Scalar(coef);
                    for (Tensor g : grads) g.mul_(s);
                }
            }
            optimizer.param_groups().get(0).options().set_lr(lr);
            optimizer.step();
            for (Tensor g : grads) g.zero_();
            return norm;
        }
    }

    // ---- pieces of the decoder stacks ----

    /** [B,T,H*D] → [B,H,T,D]. */
    static Tensor heads(Tensor x, int b, int t, int h, int d) {
        return x.view(b, t, h, d).transpose(1, 2);
    }

    /**
     * softmax(q·kᵀ / sqrt(D) + mask)·v of q, k, v [B,H,T,D] and mask [B,1,T,T] from
     * {@link #attentionMask}, with the heads joined again: [B,T,H*D].
     */
    static Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask) {
        long b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3);
        Tensor scores = q.matmul(k.transpose(-2, -1)).mul(new Scalar(1.0 / Math.sqrt(d))).add(mask);
        return torch.softmax(scores, -1).matmul(v).transpose(1, 2).reshape(b, t, h * d);
    }

    /** The additive attention mask of {@code b} as a tensor [B,1,T,T]. */
    static Tensor attentionMask(TokenBatch b) {
        return Torch.floats(additiveMask(b), b.batch(), 1, b.seqLen(), b.seqLen());
    }

    /** 0 where key j is visible to query i (j ≤ i, same non-zero segment), else {@value #MASKED}; [B,T,T]. */
    static float[] additiveMask(TokenBatch b) {
        int t = b.seqLen();
        int[] seg = b.segments();
        float[] m = new float[b.batch() * t * t];
        for (int r = 0; r < b.batch(); r++) {
            for (int i = 0; i < t; i++) {
                int si = seg[r * t + i];
                for (int j = 0; j < t; j++) {
                    boolean visible = j <= i && si != 0 && seg[r * t + j] == si;
                    m[(r * t + i) * t + j] = visible ? 0f : MASKED;
                }
            }
        }
        return m;
    }

    private void releaseStep() {
        if (loss != null) loss.releaseReference();
        if (logits != null) logits.releaseReference();
        if (hidden != null) hidden.releaseReference();
        loss = null;
        logits = null;
        hidden = null;
    }

    @Override
    public void close() {
        releaseStep();
        if (optimizer != null) optimizer.releaseReference();
        if (optimizerOptions != null) optimizerOptions.releaseReference();
        optimizer = null;
        optimizerOptions = null;
        for (Tensor w : params.values()) w.releaseReference();
        params.clear();
    }
}
