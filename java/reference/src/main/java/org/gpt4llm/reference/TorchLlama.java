package org.gpt4llm.reference;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
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
 * hidden = rmsnorm(x) * w_norm
 * logits = hidden·Wlmᵀ  [B*T,V]   (Wlm = embed when tie_word_embeddings)
 * loss   = mean cross-entropy over targets ≠ -100
 * </pre>
 * Loss, gradients, {@link #hidden()} and AdamW are {@link TorchDecoder}'s.
 * With {@link #enableLora}, a linear layer W that has an adapter computes
 * {@code x·Wᵀ + scale · ((x ⊙ mask)·Aᵀ)·Bᵀ} (PEFT's LoRA; mask from {@link LoraMasks}, 1 when absent)
 * and only A and B are trained.
 */
public final class TorchLlama extends TorchDecoder {
    private final LlamaConfig cfg;
    private float loraScale;
    private LoraMasks loraMasks;

    /** The LoRA dropout mask (0 or 1/(1-p) per element) of one adapter's input [rows, cols], or null for none. */
    @FunctionalInterface
    public interface LoraMasks {
        float[] mask(int layer, String target, int rows, int cols);
    }

    /** Copies {@code weights} (HF names, any floating dtype) into fp32 libtorch leaves; libtorch uses {@code threads} threads. */
    public TorchLlama(LlamaConfig cfg, Map<String, org.gpt4llm.tensor.Tensor> weights, int threads) {
        super(expectedShapes(cfg), weights, threads);
        this.cfg = cfg;
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
        if (hasOptimizer()) throw new IllegalStateException("enableLora() after useAdamW()");
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
        addParameter(name, v, shape);
    }

    /** The dropout masks of the following forward passes (null: no dropout). */
    public void setLoraMasks(LoraMasks masks) {
        this.loraMasks = masks;
    }

    public LlamaConfig config() {
        return cfg;
    }

    @Override
    Tensor decode(TokenBatch b) {
        return decode(b, attentionMask(b), null);
    }

    /**
     * The decoder stack on the tokens of {@code b} with additive {@code mask} [B,1,T,L]; with a
     * {@code cache}, each layer's k and v [B,Hkv,T,D] are appended to the cached ones (L = cached + T)
     * before attention, and the cache keeps the result.
     */
    private Tensor decode(TokenBatch b, Tensor mask, Decoding cache) {
        int bsz = b.batch(), t = b.seqLen(), d = cfg.headDim();
        int hq = cfg.numHeads(), hkv = cfg.numKvHeads();
        Tensor tokens = Torch.longs(b.tokens(), bsz, t);
        Tensor[] rope = rotary(b);
        Tensor cos = rope[0], sin = rope[1];

        Tensor x = torch.embedding(p("model.embed_tokens.weight"), tokens);
        for (int l = 0; l < cfg.numLayers(); l++) {
            String pre = "model.layers." + l + ".";
            Tensor h = rmsnorm(x, p(pre + "input_layernorm.weight"));
            Tensor q = heads(linear(h, l, "self_attn.q_proj"), bsz, t, hq, d);
            Tensor k = heads(linear(h, l, "self_attn.k_proj"), bsz, t, hkv, d);
            Tensor v = heads(linear(h, l, "self_attn.v_proj"), bsz, t, hkv, d);
            q = applyRope(q, cos, sin);
            k = applyRope(k, cos, sin);
            if (cache != null) {
                if (cache.k[l] != null) {
                    k = torch.cat(new TensorVector(cache.k[l], k), 2);
                    v = torch.cat(new TensorVector(cache.v[l], v), 2);
                }
                cache.keep(l, k, v);
            }
            if (hq != hkv) {
                k = torch.repeat_interleave(k, hq / hkv, new LongOptional(1), new LongOptional());
                v = torch.repeat_interleave(v, hq / hkv, new LongOptional(1), new LongOptional());
            }
            x = x.add(linear(attention(q, k, v, mask), l, "self_attn.o_proj"));
            h = rmsnorm(x, p(pre + "post_attention_layernorm.weight"));
            Tensor gate = torch.silu(linear(h, l, "mlp.gate_proj"));
            Tensor up = linear(h, l, "mlp.up_proj");
            x = x.add(linear(gate.mul(up), l, "mlp.down_proj"));
        }
        return rmsnorm(x, p("model.norm.weight"));
    }

    /** Starts incremental decoding with a KV cache (the libtorch peer of our decode sessions). */
    public Decoding openDecoding() {
        return new Decoding();
    }

    /**
     * Incremental decoding written with libtorch ops, no autograd: the prefill runs equal-length
     * prompts as one causal batch and keeps every layer's k and v [B,Hkv,L,D]; a step runs one new
     * token per row at position L against the cache (torch.cat of the new k, v) with no mask, and
     * grows it. Returns the logits that follow each row's last token, [B][V]. LoRA adapters take part
     * with the current masks (set none for inference).
     */
    public final class Decoding implements AutoCloseable {
        private final Tensor[] k = new Tensor[cfg.numLayers()], v = new Tensor[cfg.numLayers()];
        private int rows, length;

        private Decoding() {}

        /** Runs {@code prompts} (all of one length) into a fresh cache. */
        public float[][] prefill(int[][] prompts) {
            int t = prompts.length == 0 ? 0 : prompts[0].length;
            for (int[] p : prompts) {
                if (p.length != t || t == 0) throw new IllegalArgumentException("the libtorch decoder needs prompts of one non-zero length");
            }
            release();
            rows = prompts.length;
            TokenBatch b = TokenBatch.causalLm(prompts, 0);
            float[][] out = run(b, null);
            length = t;
            return out;
        }

        /** Appends {@code tokens[row]} to every row. */
        public float[][] step(int[] tokens) {
            if (length == 0) throw new IllegalStateException("step() before prefill()");
            if (tokens.length != rows) throw new IllegalArgumentException("step needs " + rows + " tokens, got " + tokens.length);
            int[] positions = new int[rows], segments = new int[rows], targets = new int[rows];
            java.util.Arrays.fill(positions, length);
            java.util.Arrays.fill(segments, 1);
            java.util.Arrays.fill(targets, TokenBatch.IGNORE);
            float[][] out = run(new TokenBatch(rows, 1, tokens.clone(), targets, positions, segments), new float[rows * (length + 1)]);
            length++;
            return out;
        }

        /** Tokens per row in the cache. */
        public int length() {
            return length;
        }

        /** {@code stepMask}: zeros [B,1,1,L] for a step (every cached key is visible), null for the prefill's causal mask. */
        private float[][] run(TokenBatch b, float[] stepMask) {
            Torch.setThreads(threads());
            try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
                Tensor mask = stepMask == null ? attentionMask(b) : Torch.floats(stepMask, b.batch(), 1, 1, stepMask.length / b.batch());
                Tensor x = decode(b, mask, this);
                Tensor last = x.narrow(1, b.seqLen() - 1, 1).reshape(b.batch(), x.size(2));
                Tensor logits = torch.linear(last, head());
                int vocab = (int) logits.size(1);
                float[] flat = Torch.toFloats(logits);
                float[][] out = new float[b.batch()][];
                for (int r = 0; r < out.length; r++) out[r] = java.util.Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
                return out;
            }
        }

        private void keep(int layer, Tensor kl, Tensor vl) {
            if (k[layer] != null) k[layer].releaseReference();
            if (v[layer] != null) v[layer].releaseReference();
            k[layer] = TorchDecoder.keep(kl);
            v[layer] = TorchDecoder.keep(vl);
        }

        private void release() {
            for (int l = 0; l < k.length; l++) {
                if (k[l] != null) k[l].releaseReference();
                if (v[l] != null) v[l].releaseReference();
                k[l] = null;
                v[l] = null;
            }
            length = 0;
        }

        @Override
        public void close() {
            release();
        }
    }

    @Override
    Tensor head() {
        return cfg.tieWordEmbeddings() ? p("model.embed_tokens.weight") : p("lm_head.weight");
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

    private Tensor rmsnorm(Tensor x, Tensor w) {
        Tensor var = x.pow(new Scalar(2.0)).mean(new long[] {-1}, true, new ScalarTypeOptional());
        return w.mul(x.mul(torch.rsqrt(var.add(new Scalar((double) cfg.rmsNormEps())))));
    }

    /** x*cos + rotate_half(x)*sin with rotate_half(x) = cat(-x[D/2:], x[:D/2]); cos/sin are [B,1,T,D]. */
    public static Tensor applyRope(Tensor x, Tensor cos, Tensor sin) {
        long half = x.size(-1) / 2;
        Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
        Tensor rotated = torch.cat(new TensorVector(x2.neg(), x1), -1);
        return x.mul(cos).add(rotated.mul(sin));
    }

    /** cos and sin of the rotary angles, [B,1,T,D], computed in fp32 as HF LlamaRotaryEmbedding does. */
    private Tensor[] rotary(TokenBatch b) {
        float[] pos = new float[b.size()];
        for (int i = 0; i < pos.length; i++) pos[i] = b.positions()[i];
        Tensor[] cs = rotaryTables(pos, b.batch(), b.seqLen(), cfg.headDim(), cfg.ropeTheta());
        return new Tensor[] {cs[0].unsqueeze(1), cs[1].unsqueeze(1)};
    }

    /**
     * cos and sin of the rotary angles of positions {@code pos} [B*T], as [B,T,D]: angle =
     * position * inv_freq over both halves, inv_freq = 1 / theta^(arange(0, D, 2) / D), in fp32.
     */
    public static Tensor[] rotaryTables(float[] pos, int batch, int seq, int d, float theta) {
        float[] exps = new float[d / 2];
        for (int i = 0; i < exps.length; i++) exps[i] = 2 * i;
        Tensor invFreq = torch.pow(new Scalar((double) theta), Torch.floats(exps, d / 2).div(new Scalar((double) d)))
                .reciprocal();
        Tensor freqs = Torch.floats(pos, batch, seq, 1).mul(invFreq);              // [B,T,D/2]
        Tensor emb = torch.cat(new TensorVector(freqs, freqs), -1);                // [B,T,D]
        return new Tensor[] {emb.cos(), emb.sin()};
    }
}
