package org.gpt4llm.peer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;

/**
 * An independent LLaMA ({@code LlamaForCausalLM} of HF transformers) written only with libtorch
 * operations, fp32 on the CPU, trained through libtorch autograd and libtorch's own AdamW. It is the
 * correctness oracle of our model in tests and its performance peer in {@code gpt4llm bench step};
 * it never calls our model or kernels.
 *
 * <pre>
 * x      = embed[tokens]                                            [B,T,C]
 * per layer:
 *   h    = rmsnorm(x) * w_in          rmsnorm(x) = x * rsqrt(mean(x²) + eps)
 *   q,k,v= h·Wqᵀ, h·Wkᵀ, h·Wvᵀ  viewed [B,T,H,D] → [B,H,T,D]
 *   q,k  = q*cos + rotate_half(q)*sin     angle = position * theta^(-2i/D), repeated over both halves
 *   k,v  = repeat_interleave(k,v, Hq/Hkv, head dim)                  (HF repeat_kv)
 *   a    = softmax(q·kᵀ / sqrt(D) + mask) · v  → [B,T,C]
 *          mask: key j visible to query i iff j ≤ i and seg[j] == seg[i] ≠ 0, else -1e30 (not -inf,
 *          so fully masked padding rows stay finite)
 *   x    = x + a·Woᵀ
 *   h    = rmsnorm(x) * w_post
 *   x    = x + (silu(h·Wgᵀ) * h·Wuᵀ)·Wdᵀ
 * logits = (rmsnorm(x) * w_norm)·Wlmᵀ  [B*T,V]   (Wlm = embed when tie_word_embeddings)
 * loss   = mean cross-entropy over targets ≠ -100
 * </pre>
 * With {@link #enableLora}, a linear layer W that has an adapter computes
 * {@code x·Wᵀ + scale · ((x ⊙ mask)·Aᵀ)·Bᵀ} (PEFT's LoRA; mask from {@link LoraMasks}, 1 when absent)
 * and only A and B are trained.
 */
public final class TorchLlama implements AutoCloseable {
    private static final float MASKED = -1e30f;
    private static final long REDUCTION_MEAN = 1;

    private final LlamaConfig cfg;
    /** Leaf tensors by HF name, in the order of the checkpoint (lm_head absent when tied), then LoRA adapters by PEFT name. */
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final int threads;
    private Tensor loss;
    private Tensor logits;
    private AdamW optimizer;
    private AdamWOptions optimizerOptions;
    private float loraScale;
    private LoraMasks loraMasks;

    /** The LoRA dropout mask (0 or 1/(1-p) per element) of one adapter's input [rows, cols], or null for none. */
    @FunctionalInterface
    public interface LoraMasks {
        float[] mask(int layer, String target, int rows, int cols);
    }

    /** Copies {@code weights} (HF names, any floating dtype) into fp32 libtorch leaves; libtorch uses {@code threads} threads. */
    public TorchLlama(LlamaConfig cfg, Map<String, org.gpt4llm.tensor.Tensor> weights, int threads) {
        this.cfg = cfg;
        this.threads = threads;
        Torch.setThreads(threads);
        // Every libtorch object this model keeps is created inside a scope and retained once, so it
        // lives until close() releases it, whatever scope the caller is in.
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, long[]> e : expectedShapes(cfg).entrySet()) {
                org.gpt4llm.tensor.Tensor w = weights.get(e.getKey());
                if (w == null) throw new IllegalArgumentException("weight " + e.getKey() + " is missing");
                if (!Arrays.equals(w.shape(), e.getValue())) {
                    throw new IllegalArgumentException("weight " + e.getKey() + " has shape " + Arrays.toString(w.shape())
                            + ", expected " + Arrays.toString(e.getValue()));
                }
                Tensor leaf = Torch.floats(w.toFloatArray(), e.getValue());
                leaf.set_requires_grad(true);
                params.put(e.getKey(), keep(leaf));
            }
        }
    }

    private static <P extends Pointer> P keep(P p) {
        p.retainReference();
        return p;
    }

    /** One libtorch thread per available processor. */
    public TorchLlama(LlamaConfig cfg, Map<String, org.gpt4llm.tensor.Tensor> weights) {
        this(cfg, weights, Runtime.getRuntime().availableProcessors());
    }

    /** The HF parameter names and shapes of {@code cfg}, in checkpoint order. */
    public static Map<String, long[]> expectedShapes(LlamaConfig cfg) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long c = cfg.hiddenSize(), f = cfg.intermediateSize(), kv = cfg.kvDim(), v = cfg.vocabSize();
        s.put("model.embed_tokens.weight", new long[] {v, c});
        for (int i = 0; i < cfg.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            s.put(p + "input_layernorm.weight", new long[] {c});
            s.put(p + "self_attn.q_proj.weight", new long[] {c, c});
            s.put(p + "self_attn.k_proj.weight", new long[] {kv, c});
            s.put(p + "self_attn.v_proj.weight", new long[] {kv, c});
            s.put(p + "self_attn.o_proj.weight", new long[] {c, c});
            s.put(p + "post_attention_layernorm.weight", new long[] {c});
            s.put(p + "mlp.gate_proj.weight", new long[] {f, c});
            s.put(p + "mlp.up_proj.weight", new long[] {f, c});
            s.put(p + "mlp.down_proj.weight", new long[] {c, f});
        }
        s.put("model.norm.weight", new long[] {c});
        if (!cfg.tieWordEmbeddings()) s.put("lm_head.weight", new long[] {v, c});
        return s;
    }

    /**
     * Adds LoRA adapters, given by PEFT name ({@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight},
     * A [rank, in] and B [out, rank]) for each layer and target (q_proj, ..., down_proj), and freezes
     * every base weight; {@code scale} is alpha / rank.
     */
    public void enableLora(int rank, float scale, List<String> targets, Map<String, float[]> adapters) {
        if (optimizer != null) throw new IllegalStateException("enableLora() after useAdamW()");
        loraScale = scale;
        try (PointerScope scope = new PointerScope()) {
            for (Tensor w : params.values()) w.set_requires_grad(false);
            for (int l = 0; l < cfg.numLayers(); l++) {
                for (String target : targets) {
                    String base = "model.layers." + l + "." + (target.equals("gate_proj") || target.equals("up_proj")
                            || target.equals("down_proj") ? "mlp." : "self_attn.") + target;
                    long[] w = expectedShapes(cfg).get(base + ".weight");
                    addLeaf(adapters, "base_model.model." + base + ".lora_A.weight", rank, w[1]);
                    addLeaf(adapters, "base_model.model." + base + ".lora_B.weight", w[0], rank);
                }
            }
        }
    }

    private void addLeaf(Map<String, float[]> values, String name, long... shape) {
        float[] v = values.get(name);
        if (v == null || v.length != shape[0] * shape[1]) throw new IllegalArgumentException("adapter " + name + " is missing or has the wrong size");
        Tensor leaf = Torch.floats(v, shape);
        leaf.set_requires_grad(true);
        params.put(name, keep(leaf));
    }

    /** The dropout masks of the following forward passes (null: no dropout). */
    public void setLoraMasks(LoraMasks masks) {
        this.loraMasks = masks;
    }

    public LlamaConfig config() {
        return cfg;
    }

    /** The libtorch thread count this model was built with. */
    public int threads() {
        return threads;
    }

    /** Forward pass with autograd recording; returns the mean loss over targets that are not -100. */
    public float forward(TokenBatch b) {
        releaseStep();
        Torch.setThreads(threads);
        int bsz = b.batch(), t = b.seqLen(), c = cfg.hiddenSize(), d = cfg.headDim();
        int hq = cfg.numHeads(), hkv = cfg.numKvHeads();
        try (PointerScope scope = new PointerScope()) {
            Tensor tokens = Torch.longs(b.tokens(), bsz, t);
            Tensor targets = Torch.longs(b.targets(), (long) bsz * t);
            Tensor[] rope = rotary(b);
            Tensor cos = rope[0], sin = rope[1];
            Tensor mask = Torch.floats(additiveMask(b), bsz, 1, t, t);
            Scalar scale = new Scalar(1.0 / Math.sqrt(d));

            Tensor x = torch.embedding(p("model.embed_tokens.weight"), tokens);
            for (int l = 0; l < cfg.numLayers(); l++) {
                String pre = "model.layers." + l + ".";
                Tensor h = rmsnorm(x, p(pre + "input_layernorm.weight"));
                Tensor q = heads(linear(h, l, "self_attn.q_proj"), bsz, t, hq, d);
                Tensor k = heads(linear(h, l, "self_attn.k_proj"), bsz, t, hkv, d);
                Tensor v = heads(linear(h, l, "self_attn.v_proj"), bsz, t, hkv, d);
                q = applyRope(q, cos, sin);
                k = applyRope(k, cos, sin);
                if (hq != hkv) {
                    k = torch.repeat_interleave(k, hq / hkv, new LongOptional(1), new LongOptional());
                    v = torch.repeat_interleave(v, hq / hkv, new LongOptional(1), new LongOptional());
                }
                Tensor scores = q.matmul(k.transpose(-2, -1)).mul(scale).add(mask);   // [B,H,T,T]
                Tensor probs = torch.softmax(scores, -1);
                Tensor a = probs.matmul(v).transpose(1, 2).reshape(bsz, t, c);        // [B,T,C]
                x = x.add(linear(a, l, "self_attn.o_proj"));
                h = rmsnorm(x, p(pre + "post_attention_layernorm.weight"));
                Tensor gate = torch.silu(linear(h, l, "mlp.gate_proj"));
                Tensor up = linear(h, l, "mlp.up_proj");
                x = x.add(linear(gate.mul(up), l, "mlp.down_proj"));
            }
            x = rmsnorm(x, p("model.norm.weight"));
            Tensor head = cfg.tieWordEmbeddings() ? p("model.embed_tokens.weight") : p("lm_head.weight");
            logits = torch.linear(x, head).reshape((long) bsz * t, cfg.vocabSize());
            loss = torch.nll_loss(torch.log_softmax(logits, 1), targets, new TensorOptional(), REDUCTION_MEAN,
                    TokenBatch.IGNORE);
            keep(logits);
            keep(loss);
            return loss.item_float();
        }
    }

    /** The logits of the last forward, [B*T, V] row-major (rows of padding hold finite garbage). */
    public float[] logits() {
        if (logits == null) throw new IllegalStateException("logits() before forward()");
        try (PointerScope scope = new PointerScope()) {
            return Torch.toFloats(logits.detach());
        }
    }

    /** Back-propagates the last forward's loss; gradients accumulate into the leaves until {@link #zeroGrad()}. */
    public void backward() {
        if (loss == null) throw new IllegalStateException("backward() without a forward()");
        Torch.setThreads(threads);
        try (PointerScope scope = new PointerScope()) {
            loss.backward();
        }
        releaseStep();
    }

    public void zeroGrad() {
        try (PointerScope scope = new PointerScope()) {
            for (Tensor w : params.values()) {
                Tensor g = w.grad();
                if (g.defined()) g.zero_();
            }
        }
    }

    /** Gradients by HF name (zeros where none was computed yet). */
    public Map<String, float[]> grads() {
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
    public Map<String, float[]> parameters() {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) out.put(e.getKey(), Torch.toFloats(e.getValue().detach()));
        }
        return out;
    }

    /**
     * Creates libtorch's AdamW over all trainable parameters (one group, decoupled weight decay on every
     * parameter, as {@code torch.optim.AdamW(model.parameters())} does).
     */
    public void useAdamW(float beta1, float beta2, float eps, float weightDecay) {
        if (optimizer != null) throw new IllegalStateException("useAdamW() called twice");
        try (PointerScope scope = new PointerScope()) {
            optimizerOptions = keep(new AdamWOptions(1e-3));
            // std::tuple<double,double> is laid out last-element-first by libstdc++: [0] is beta2, [1] is beta1.
            DoublePointer betas = optimizerOptions.betas();
            betas.put(0, beta2).put(1, beta1);
            optimizerOptions.eps().put(eps);
            optimizerOptions.weight_decay().put(weightDecay);
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
    public float step(float lr, float maxGradNorm) {
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

    /** x·Wᵀ of linear layer {@code module} ("self_attn.q_proj") of layer {@code layer}, plus its adapter if any. */
    private Tensor linear(Tensor x, int layer, String module) {
        String base = "model.layers." + layer + "." + module;
        Tensor y = torch.linear(x, p(base + ".weight"));
        Tensor a = params.get("base_model.model." + base + ".lora_A.weight");
        if (a == null) return y;
        Tensor b = p("base_model.model." + base + ".lora_B.weight");
        Tensor xd = x;
        float[] m = loraMasks == null ? null
                : loraMasks.mask(layer, module.substring(module.indexOf('.') + 1), (int) (x.size(0) * x.size(1)), (int) x.size(2));
        if (m != null) xd = x.mul(Torch.floats(m, x.size(0), x.size(1), x.size(2)));
        return y.add(torch.linear(torch.linear(xd, a), b).mul(new Scalar((double) loraScale)));
    }

    private Tensor p(String name) {
        return params.get(name);
    }

    private Tensor rmsnorm(Tensor x, Tensor w) {
        Tensor var = x.pow(new Scalar(2.0)).mean(new long[] {-1}, true, new ScalarTypeOptional());
        return w.mul(x.mul(torch.rsqrt(var.add(new Scalar((double) cfg.rmsNormEps())))));
    }

    /** [B,T,H*D] → [B,H,T,D]. */
    private static Tensor heads(Tensor x, int b, int t, int h, int d) {
        return x.view(b, t, h, d).transpose(1, 2);
    }

    /** x*cos + rotate_half(x)*sin with rotate_half(x) = cat(-x[D/2:], x[:D/2]); cos/sin are [B,1,T,D]. */
    private static Tensor applyRope(Tensor x, Tensor cos, Tensor sin) {
        long half = x.size(-1) / 2;
        Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
        Tensor rotated = torch.cat(new TensorVector(x2.neg(), x1), -1);
        return x.mul(cos).add(rotated.mul(sin));
    }

    /** cos and sin of the rotary angles, [B,1,T,D], computed in fp32 as HF LlamaRotaryEmbedding does. */
    private Tensor[] rotary(TokenBatch b) {
        int d = cfg.headDim();
        float[] pos = new float[b.size()];
        for (int i = 0; i < pos.length; i++) pos[i] = b.positions()[i];
        float[] exps = new float[d / 2];
        for (int i = 0; i < exps.length; i++) exps[i] = 2 * i;
        // inv_freq = 1 / theta^(arange(0, D, 2) / D)
        Tensor invFreq = torch.pow(new Scalar((double) cfg.ropeTheta()), Torch.floats(exps, d / 2).div(new Scalar((double) d)))
                .reciprocal();
        Tensor freqs = Torch.floats(pos, b.batch(), b.seqLen(), 1).mul(invFreq);   // [B,T,D/2]
        Tensor emb = torch.cat(new TensorVector(freqs, freqs), -1).unsqueeze(1);   // [B,1,T,D]
        return new Tensor[] {emb.cos(), emb.sin()};
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
        loss = null;
        logits = null;
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
