package org.gpt4llm.reference;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.TokenBatch;

/**
 * An independent OPT ({@code OPTForCausalLM} of HF transformers, pre-LayerNorm) written only with
 * libtorch operations, fp32 on the CPU, trained through libtorch autograd. It is the correctness
 * oracle of our OPT in tests; it never calls our model or kernels.
 *
 * <pre>
 * x      = embed[tokens] + pos_embed[positions + 2]                 [B,T,C]   (OptConfig.POSITION_OFFSET)
 * per layer:
 *   h    = layernorm(x) * w_ln1 + b_ln1                             eps 1e-5
 *   q,k,v= h·Wqᵀ + bq, h·Wkᵀ + bk, h·Wvᵀ + bv   viewed [B,T,H,D] → [B,H,T,D]
 *   a    = softmax(q·kᵀ / sqrt(D) + mask) · v  → [B,T,C]             mask as TorchDecoder's
 *   x    = x + a·Woᵀ + bo
 *   h    = layernorm(x) * w_ln2 + b_ln2
 *   x    = x + relu(h·W1ᵀ + b1)·W2ᵀ + b2
 * hidden = layernorm(x) * w_final + b_final
 * logits = hidden·Wlmᵀ  [B*T,V]   (Wlm = embed when tie_word_embeddings)
 * loss   = mean cross-entropy over targets ≠ -100
 * </pre>
 * HF scales q by D^-0.5 after q_proj; scaling the scores instead is the same. Positions come from
 * {@link TokenBatch#positions()}: for right-padded rows they equal HF's cumsum(attention_mask) - 1,
 * and packed sequences restart at 0. Loss, gradients, {@link #hidden()} and AdamW are
 * {@link TorchDecoder}'s.
 */
public final class TorchOpt extends TorchDecoder {
    private static final String DECODER = "model.decoder.";

    private final OptConfig cfg;

    /** Copies {@code weights} (HF names, any floating dtype) into fp32 libtorch leaves; libtorch uses {@code threads} threads. */
    public TorchOpt(OptConfig cfg, Map<String, org.gpt4llm.tensor.Tensor> weights, int threads) {
        super(expectedShapes(cfg), weights, threads);
        this.cfg = cfg;
    }

    /** One libtorch thread per available processor. */
    public TorchOpt(OptConfig cfg, Map<String, org.gpt4llm.tensor.Tensor> weights) {
        this(cfg, weights, Runtime.getRuntime().availableProcessors());
    }

    /** The HF parameter names and shapes of {@code cfg}, in checkpoint order. */
    public static Map<String, long[]> expectedShapes(OptConfig cfg) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long c = cfg.hiddenSize(), f = cfg.intermediateSize(), v = cfg.vocabSize();
        s.put(DECODER + "embed_tokens.weight", new long[] {v, c});
        s.put(DECODER + "embed_positions.weight", new long[] {cfg.maxPositionEmbeddings() + OptConfig.POSITION_OFFSET, c});
        for (int i = 0; i < cfg.numLayers(); i++) {
            String p = DECODER + "layers." + i + ".";
            s.put(p + "self_attn_layer_norm.weight", new long[] {c});
            s.put(p + "self_attn_layer_norm.bias", new long[] {c});
            for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                s.put(p + "self_attn." + proj + ".weight", new long[] {c, c});
                s.put(p + "self_attn." + proj + ".bias", new long[] {c});
            }
            s.put(p + "final_layer_norm.weight", new long[] {c});
            s.put(p + "final_layer_norm.bias", new long[] {c});
            s.put(p + "fc1.weight", new long[] {f, c});
            s.put(p + "fc1.bias", new long[] {f});
            s.put(p + "fc2.weight", new long[] {c, f});
            s.put(p + "fc2.bias", new long[] {c});
        }
        s.put(DECODER + "final_layer_norm.weight", new long[] {c});
        s.put(DECODER + "final_layer_norm.bias", new long[] {c});
        if (!cfg.tieWordEmbeddings()) s.put("lm_head.weight", new long[] {v, c});
        return s;
    }

    public OptConfig config() {
        return cfg;
    }

    @Override
    Tensor decode(TokenBatch b) {
        int bsz = b.batch(), t = b.seqLen(), c = cfg.hiddenSize(), heads = cfg.numHeads(), d = c / heads;
        int[] rows = new int[b.size()];
        for (int i = 0; i < rows.length; i++) {
            int pos = b.positions()[i];
            if (pos < 0 || pos >= cfg.maxPositionEmbeddings()) {
                throw new IllegalArgumentException("position " + pos + " at batch index " + i
                        + " is outside OPT's max_position_embeddings of " + cfg.maxPositionEmbeddings());
            }
            rows[i] = pos + OptConfig.POSITION_OFFSET;
        }
        Tensor mask = attentionMask(b);
        Tensor x = torch.embedding(p(DECODER + "embed_tokens.weight"), Torch.longs(b.tokens(), bsz, t))
                .add(torch.embedding(p(DECODER + "embed_positions.weight"), Torch.longs(rows, bsz, t)));
        for (int l = 0; l < cfg.numLayers(); l++) {
            String pre = DECODER + "layers." + l + ".";
            Tensor h = layerNorm(x, pre + "self_attn_layer_norm");
            Tensor q = heads(linear(h, pre + "self_attn.q_proj"), bsz, t, heads, d);
            Tensor k = heads(linear(h, pre + "self_attn.k_proj"), bsz, t, heads, d);
            Tensor v = heads(linear(h, pre + "self_attn.v_proj"), bsz, t, heads, d);
            x = x.add(linear(attention(q, k, v, mask), pre + "self_attn.out_proj"));
            h = layerNorm(x, pre + "final_layer_norm");
            x = x.add(linear(torch.relu(linear(h, pre + "fc1")), pre + "fc2"));
        }
        return layerNorm(x, DECODER + "final_layer_norm");
    }

    @Override
    Tensor head() {
        return cfg.tieWordEmbeddings() ? p(DECODER + "embed_tokens.weight") : p("lm_head.weight");
    }

    /** x·Wᵀ + b of linear layer {@code module}. */
    private Tensor linear(Tensor x, String module) {
        return torch.linear(x, p(module + ".weight"), new TensorOptional(p(module + ".bias")));
    }

    /** torch's layer_norm over the last dimension with LayerNorm {@code module}'s weight and bias. */
    private Tensor layerNorm(Tensor x, String module) {
        return torch.layer_norm(x, new long[] {cfg.hiddenSize()}, new TensorOptional(p(module + ".weight")),
                new TensorOptional(p(module + ".bias")), OptConfig.LAYER_NORM_EPS, false);
    }
}
