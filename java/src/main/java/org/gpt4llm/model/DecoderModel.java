package org.gpt4llm.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.model.Activations.LayerActs;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * LLaMA ({@code LlamaForCausalLM}) with a hand-written backward, llm.c style: the forward saves
 * every activation the backward needs, the backward walks the layers in reverse and accumulates
 * into one gradient tensor per parameter. Parameters and activations are stored in the backend's
 * types (fp32 on the CPU, bf16 on a GPU); gradients are fp32. Names are those of HF checkpoints.
 *
 * <pre>
 * x0 = embed[tokens]                                          [N, C]   N = B*T
 * per layer:  a = x + Wo · attn(rope(Wq·n1), rope(Wk·n1), Wv·n1),  n1 = rmsnorm(x) * w_in
 *             x' = a + Wd · (silu(Wg·n2) * Wu·n2),                  n2 = rmsnorm(a) * w_post
 * logits = lm_head · (rmsnorm(x_L) * w_norm)                  [N, V]
 * loss = mean over targets != -100 of cross-entropy(logits, target)
 * </pre>
 * With {@link #enableLora} each chosen linear layer gains {@code + (alpha/r) (dropout(x) Aᵀ) Bᵀ}
 * ({@link LoraAdapters}) and the base weights are frozen.
 */
public final class DecoderModel implements AutoCloseable {
    /** Indices into {@link LoraConfig#LLAMA_TARGETS}. */
    private static final int Q = 0, K = 1, V = 2, O = 3, GATE = 4, UP = 5, DOWN = 6;
    /** Shards written by {@link #save} stay below this size, as HF's default "5GB". */
    public static final long MAX_SHARD_BYTES = 5_000_000_000L;

    private final Backend backend;
    private final LlamaConfig cfg;
    private final Arena paramArena = Arena.ofShared();
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> grads = new LinkedHashMap<>();
    private final List<Layer> layers = new ArrayList<>();
    private final Tensor embed, finalNorm, lmHead, dEmbed, dFinalNorm, dLmHead;
    private Activations act;
    private TokenBatch lastBatch;
    private int lastTargetCount;
    /** LoRA adapters when {@link #enableLora} froze the base weights, else null (full fine-tuning). */
    private LoraAdapters lora;
    private boolean training = true;
    private boolean forwardTraining;
    private long dropoutSeed, forwardDropoutSeed;

    /** The weights of one decoder layer and their gradients. */
    private record Layer(Tensor inNorm, Tensor q, Tensor k, Tensor v, Tensor o, Tensor postNorm, Tensor gate,
                         Tensor up, Tensor down, Tensor dInNorm, Tensor dq, Tensor dk, Tensor dv, Tensor dout,
                         Tensor dPostNorm, Tensor dGate, Tensor dUp, Tensor dDown) {}

    private DecoderModel(Backend backend, LlamaConfig cfg) {
        this.backend = backend;
        this.cfg = cfg;
        parameterShapes(cfg).forEach((name, shape) -> {
            params.put(name, backend.allocate(paramArena, backend.weightType(), shape));
            grads.put(name, backend.allocate(paramArena, DType.F32, shape));
        });
        embed = params.get("model.embed_tokens.weight");
        dEmbed = grads.get("model.embed_tokens.weight");
        finalNorm = params.get("model.norm.weight");
        dFinalNorm = grads.get("model.norm.weight");
        // tied embeddings: the head is the embedding matrix, and both gradients land in one tensor
        lmHead = cfg.tieWordEmbeddings() ? embed : params.get("lm_head.weight");
        dLmHead = cfg.tieWordEmbeddings() ? dEmbed : grads.get("lm_head.weight");
        for (int l = 0; l < cfg.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            String[] names = {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                    "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
            Tensor[] w = new Tensor[9], g = new Tensor[9];
            for (int i = 0; i < 9; i++) {
                w[i] = params.get(p + names[i] + ".weight");
                g[i] = grads.get(p + names[i] + ".weight");
            }
            layers.add(new Layer(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8],
                    g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8]));
        }
    }

    /** HF tensor names and shapes of a LLaMA with this configuration, in checkpoint order. */
    public static Map<String, long[]> parameterShapes(LlamaConfig c) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long h = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
        s.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            s.put(p + "input_layernorm.weight", new long[] {h});
            s.put(p + "self_attn.q_proj.weight", new long[] {h, h});
            s.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            s.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            s.put(p + "self_attn.o_proj.weight", new long[] {h, h});
            s.put(p + "post_attention_layernorm.weight", new long[] {h});
            s.put(p + "mlp.gate_proj.weight", new long[] {f, h});
            s.put(p + "mlp.up_proj.weight", new long[] {f, h});
            s.put(p + "mlp.down_proj.weight", new long[] {h, f});
        }
        s.put("model.norm.weight", new long[] {h});
        if (!c.tieWordEmbeddings()) s.put("lm_head.weight", new long[] {c.vocabSize(), h});
        return s;
    }

    /** HF initialisation: every matrix normal(0, 0.02), every norm weight 1. Deterministic in {@code seed}. */
    public static DecoderModel initRandom(Backend backend, LlamaConfig cfg, long seed) {
        DecoderModel m = new DecoderModel(backend, cfg);
        try (Arena host = Arena.ofShared()) { // shared: the initializer fills chunks in parallel
            // generated on the host in fp32 (the same numbers on every backend), then moved over
            Map<String, Tensor> init = new LinkedHashMap<>();
            m.params.forEach((name, p) -> init.put(name, Tensor.allocate(host, DType.F32, p.shape())));
            Initializer.hfNormal(init, seed);
            init.forEach((name, t) -> backend.upload(m.params.get(name), t));
        }
        return m;
    }

    /** A model holding a copy of {@code weights} (F32, F16 or BF16), checked against the config. */
    public static DecoderModel create(Backend backend, LlamaConfig cfg, Map<String, Tensor> weights) {
        return create(backend, cfg, weights, "the given weights");
    }

    private static DecoderModel create(Backend backend, LlamaConfig cfg, Map<String, Tensor> weights, String source) {
        DecoderModel m = new DecoderModel(backend, cfg);
        for (var e : m.params.entrySet()) {
            Tensor w = weights.get(e.getKey());
            if (w == null) {
                m.close();
                throw new IllegalArgumentException(source + ": tensor " + e.getKey() + " is missing");
            }
            if (!java.util.Arrays.equals(w.shape(), e.getValue().shape())) {
                m.close();
                throw new IllegalArgumentException(source + ": tensor " + e.getKey() + " has shape "
                        + java.util.Arrays.toString(w.shape()) + " but the config needs "
                        + java.util.Arrays.toString(e.getValue().shape()));
            }
            backend.upload(e.getValue(), w);
        }
        return m;
    }

    /** Loads {@code config.json} and the safetensors weights (single file or sharded) of an HF folder. */
    public static DecoderModel load(Backend backend, Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) throw new IOException(dir + " has no config.json: not a model folder");
        LlamaConfig cfg = LlamaConfig.read(config);
        try (Arena mapping = Arena.ofShared()) {
            return create(backend, cfg, Checkpoint.load(dir, mapping), dir.toString());
        }
    }

    /**
     * Writes {@code config.json} and safetensors (sharded above {@link #MAX_SHARD_BYTES}) in the
     * parameters' own dtype (F32 on the CPU, BF16 on a GPU).
     */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Arena host = Arena.ofConfined()) {
            Map<String, Tensor> onHost = new LinkedHashMap<>();
            params.forEach((name, p) -> onHost.put(name, backend.toHost(p, host)));
            Checkpoint.save(dir, onHost, MAX_SHARD_BYTES);
        }
        cfg.write(dir.resolve("config.json"));
    }

    public LlamaConfig config() {
        return cfg;
    }

    public Backend backend() {
        return backend;
    }

    /** Parameters by HF name (live fp32 tensors). */
    public Map<String, Tensor> parameters() {
        return params;
    }

    /** Gradients by HF name, accumulated by {@link #backward} until {@link #zeroGrad}. */
    public Map<String, Tensor> gradients() {
        return grads;
    }

    public long parameterCount() {
        return params.values().stream().mapToLong(Tensor::numel).sum();
    }

    public void zeroGrad() {
        for (Tensor g : grads.values()) {
            // frozen base matrices never receive a gradient; the norms' by-product does
            if (lora == null || g.rank() == 1) backend.zero(g);
        }
        if (lora != null) for (Tensor g : lora.gradients().values()) backend.zero(g);
    }

    /**
     * Adds LoRA adapters (A ~ uniform(-1/sqrt(in), 1/sqrt(in)) as PEFT's kaiming-uniform init, B = 0,
     * deterministic in {@code seed}) and freezes the base weights: from now on the backward computes
     * gradients only for the adapters, and {@link #trainableParameters} are the adapters.
     */
    public void enableLora(LoraConfig c, long seed) {
        if (lora != null) throw new IllegalStateException("LoRA is already enabled on this model");
        lora = new LoraAdapters(backend, cfg, c, seed);
    }

    /** The LoRA configuration, or null when the model is fully trainable. */
    public LoraConfig loraConfig() {
        return lora == null ? null : lora.config();
    }

    /** What an optimizer updates: every parameter (HF names), or with LoRA only the adapters (PEFT names). */
    public Map<String, Tensor> trainableParameters() {
        return lora == null ? params : lora.parameters();
    }

    /** The gradients of {@link #trainableParameters}, under the same names. */
    public Map<String, Tensor> trainableGradients() {
        return lora == null ? grads : lora.gradients();
    }

    /** Training mode applies LoRA dropout; evaluation does not. The mode of a forward also holds for its backward. */
    public void setTraining(boolean training) {
        this.training = training;
    }

    /**
     * The seed of the LoRA dropout masks of the following forward passes (each adapter derives its own
     * from it). A trainer sets it per micro-step from its run seed and position, so a resumed run
     * draws the same masks.
     */
    public void setDropoutSeed(long seed) {
        this.dropoutSeed = seed;
    }

    /** Writes the adapters as a PEFT folder: adapter_config.json and adapter_model.safetensors, each atomically. */
    public void saveAdapter(Path dir, String baseModel) throws IOException {
        if (lora == null) throw new IllegalStateException("no LoRA adapters to save: enableLora was not called");
        lora.save(dir, baseModel);
    }

    /**
     * Loads a PEFT LoRA adapter folder (ours or PEFT's): enables LoRA with its adapter_config.json
     * when the model has none yet, then reads every adapter tensor, checking names and shapes.
     */
    public void loadAdapter(Path dir) throws IOException {
        LoraConfig c = LoraAdapters.readConfig(dir);
        if (lora == null) {
            enableLora(c, 0);
        } else if (lora.config().rank() != c.rank() || lora.config().alpha() != c.alpha()
                || !Set.copyOf(lora.config().targets()).equals(Set.copyOf(c.targets()))) {
            throw new IOException(dir.resolve(LoraAdapters.CONFIG) + ": rank " + c.rank() + ", alpha " + c.alpha() + " on "
                    + c.targets() + " does not match this model's adapters (rank " + lora.config().rank() + ", alpha "
                    + lora.config().alpha() + " on " + lora.config().targets() + ")");
        }
        lora.load(dir);
    }

    /** Folds the adapters into the base weights, W += (alpha/r) B A, and removes them: the model is a plain LLaMA again. */
    public void mergeLora() {
        if (lora == null) throw new IllegalStateException("no LoRA adapters to merge");
        lora.mergeInto(params);
        lora.close();
        lora = null;
    }

    /** Logits [B*T, V] of the last forward; the backward overwrites them with their gradient. */
    public Tensor logits() {
        if (act == null || lastBatch == null) throw new IllegalStateException("no forward pass yet");
        return act.logits.rows(0, lastBatch.size());
    }

    /**
     * Runs the network on {@code batch}, keeping what the backward needs. Returns the mean
     * cross-entropy over the targets that are not {@link TokenBatch#IGNORE} (0 when there are none).
     */
    public float forward(TokenBatch batch) {
        ensureActivations(batch.batch(), batch.seqLen());
        forwardDropoutSeed = dropoutSeed;
        forwardTraining = training;
        backend.rangePush("forward");
        Activations a = act;
        int n = batch.size();
        a.load(backend, batch);
        AttentionShape shape = attentionShape(batch);
        Tensor x = a.resid[0].rows(0, n);
        backend.embeddingForward(x, a.tokens(n), embed);
        for (int l = 0; l < layers.size(); l++) {
            backend.rangePush("layer " + l);
            Layer w = layers.get(l);
            LayerActs s = a.layers[l];
            Tensor xIn = a.resid[l].rows(0, n), xMid = s.mid().rows(0, n), xOut = a.resid[l + 1].rows(0, n);
            Tensor n1 = s.norm1().rows(0, n), q = s.q().rows(0, n), k = s.k().rows(0, n), v = s.v().rows(0, n);
            Tensor att = s.att().rows(0, n);
            backend.rmsnormForward(n1, s.rstd1().rows(0, n), xIn, w.inNorm, cfg.rmsNormEps());
            backend.matmul(q, n1, false, w.q, true, 1f, 0f);
            backend.matmul(k, n1, false, w.k, true, 1f, 0f);
            backend.matmul(v, n1, false, w.v, true, 1f, 0f);
            loraForward(l, Q, q, n1, n);
            loraForward(l, K, k, n1, n);
            loraForward(l, V, v, n1, n);
            backend.ropeForward(q, a.positions(n), cfg.numHeads(), cfg.headDim(), cfg.ropeTheta());
            backend.ropeForward(k, a.positions(n), cfg.numKvHeads(), cfg.headDim(), cfg.ropeTheta());
            backend.attentionForward(att, s.lse(shape), q, k, v, a.segments(n), shape);
            backend.copy(xMid, xIn);
            backend.matmul(xMid, att, false, w.o, true, 1f, 1f);
            loraForward(l, O, xMid, att, n);
            Tensor n2 = s.norm2().rows(0, n), g = s.gate().rows(0, n), u = s.up().rows(0, n), h = s.hidden().rows(0, n);
            backend.rmsnormForward(n2, s.rstd2().rows(0, n), xMid, w.postNorm, cfg.rmsNormEps());
            backend.matmul(g, n2, false, w.gate, true, 1f, 0f);
            backend.matmul(u, n2, false, w.up, true, 1f, 0f);
            loraForward(l, GATE, g, n2, n);
            loraForward(l, UP, u, n2, n);
            backend.swigluForward(h, g, u);
            backend.copy(xOut, xMid);
            backend.matmul(xOut, h, false, w.down, true, 1f, 1f);
            loraForward(l, DOWN, xOut, h, n);
            backend.rangePop();
        }
        Tensor xf = a.normF.rows(0, n), logits = a.logits.rows(0, n);
        backend.rmsnormForward(xf, a.rstdF.rows(0, n), a.resid[layers.size()].rows(0, n), finalNorm, cfg.rmsNormEps());
        backend.matmul(logits, xf, false, lmHead, true, 1f, 0f);
        Tensor losses = a.losses.rows(0, n);
        lastTargetCount = backend.crossEntropy(losses, null, logits, a.targets(n), TokenBatch.IGNORE, 0f);
        lastBatch = batch;
        backend.rangePop();
        if (lastTargetCount == 0) return 0f;
        double sum = 0;
        for (float v : backend.download(losses)) sum += v;
        return (float) (sum / lastTargetCount);
    }

    /** Backward of the mean loss of the last forward: gradients scaled by 1 / its target count. */
    public void backward() {
        backward(lastTargetCount == 0 ? 0f : 1f / lastTargetCount);
    }

    /**
     * Accumulates {@code gradScale * d(sum of token losses)/d(param)} into {@link #gradients()}; with
     * gradient accumulation the trainer passes 1 / (targets over all micro-batches).
     */
    public void backward(float gradScale) {
        if (lastBatch == null) throw new IllegalStateException("backward without a forward pass");
        backend.rangePush("backward");
        Activations a = act;
        int n = lastBatch.size();
        AttentionShape shape = attentionShape(lastBatch);
        Tensor logits = a.logits.rows(0, n), xf = a.normF.rows(0, n);
        // d logits, in place over the logits
        backend.crossEntropy(a.losses.rows(0, n), logits, logits, a.targets(n), TokenBatch.IGNORE, gradScale);
        // with LoRA the base weights are frozen: their gradient GEMMs are skipped (norm weight
        // gradients still come out of the rmsnorm kernels, as a cheap by-product nobody reads)
        boolean full = lora == null;
        if (full) backend.matmul(dLmHead, logits, true, xf, false, 1f, 1f);
        Tensor dxn = a.dNorm.rows(0, n), dres = a.dResid.rows(0, n);
        backend.matmul(dxn, logits, false, lmHead, false, 1f, 0f);
        backend.zero(dres);
        backend.rmsnormBackward(dres, dFinalNorm, dxn, a.resid[layers.size()].rows(0, n), finalNorm, a.rstdF.rows(0, n));
        for (int l = layers.size() - 1; l >= 0; l--) {
            backend.rangePush("layer " + l);
            Layer w = layers.get(l);
            LayerActs s = a.layers[l];
            // MLP: x' = mid + Wd·h ; dres flows to mid unchanged
            Tensor n2 = s.norm2().rows(0, n), g = s.gate().rows(0, n), u = s.up().rows(0, n), h = s.hidden().rows(0, n);
            Tensor dh = a.dHidden.rows(0, n), dg = a.dGate.rows(0, n), du = a.dUp.rows(0, n);
            if (full) backend.matmul(w.dDown, dres, true, h, false, 1f, 1f);
            backend.matmul(dh, dres, false, w.down, false, 1f, 0f);
            loraBackward(l, DOWN, dh, dres, h, n);
            backend.swigluBackward(dg, du, dh, g, u);
            if (full) backend.matmul(w.dGate, dg, true, n2, false, 1f, 1f);
            if (full) backend.matmul(w.dUp, du, true, n2, false, 1f, 1f);
            backend.matmul(dxn, dg, false, w.gate, false, 1f, 0f);
            backend.matmul(dxn, du, false, w.up, false, 1f, 1f);
            loraBackward(l, GATE, dxn, dg, n2, n);
            loraBackward(l, UP, dxn, du, n2, n);
            backend.rmsnormBackward(dres, w.dPostNorm, dxn, s.mid().rows(0, n), w.postNorm, s.rstd2().rows(0, n));
            // attention: mid = x + Wo·att
            Tensor att = s.att().rows(0, n), datt = a.dAtt.rows(0, n);
            Tensor dq = a.dQ.rows(0, n), dk = a.dK.rows(0, n), dv = a.dV.rows(0, n), n1 = s.norm1().rows(0, n);
            if (full) backend.matmul(w.dout, dres, true, att, false, 1f, 1f);
            backend.matmul(datt, dres, false, w.o, false, 1f, 0f);
            loraBackward(l, O, datt, dres, att, n);
            backend.attentionBackward(dq, dk, dv, datt, att, s.lse(shape), s.q().rows(0, n), s.k().rows(0, n),
                    s.v().rows(0, n), a.segments(n), shape);
            backend.ropeBackward(dq, a.positions(n), cfg.numHeads(), cfg.headDim(), cfg.ropeTheta());
            backend.ropeBackward(dk, a.positions(n), cfg.numKvHeads(), cfg.headDim(), cfg.ropeTheta());
            if (full) backend.matmul(w.dq, dq, true, n1, false, 1f, 1f);
            if (full) backend.matmul(w.dk, dk, true, n1, false, 1f, 1f);
            if (full) backend.matmul(w.dv, dv, true, n1, false, 1f, 1f);
            backend.matmul(dxn, dq, false, w.q, false, 1f, 0f);
            backend.matmul(dxn, dk, false, w.k, false, 1f, 1f);
            backend.matmul(dxn, dv, false, w.v, false, 1f, 1f);
            loraBackward(l, Q, dxn, dq, n1, n);
            loraBackward(l, K, dxn, dk, n1, n);
            loraBackward(l, V, dxn, dv, n1, n);
            backend.rmsnormBackward(dres, w.dInNorm, dxn, a.resid[l].rows(0, n), w.inNorm, s.rstd1().rows(0, n));
            backend.rangePop();
        }
        if (full) backend.embeddingBackward(dEmbed, a.tokens(n), dres);
        backend.rangePop();
        lastBatch = null; // the logits now hold their gradient
    }

    private void loraForward(int layer, int target, Tensor y, Tensor x, int n) {
        if (lora != null) lora.forward(layer, target, y, x, n, forwardTraining, forwardDropoutSeed);
    }

    private void loraBackward(int layer, int target, Tensor dx, Tensor dy, Tensor x, int n) {
        if (lora != null) lora.backward(layer, target, dx, dy, x, n, forwardTraining, forwardDropoutSeed);
    }

    private AttentionShape attentionShape(TokenBatch b) {
        return new AttentionShape(b.batch(), b.seqLen(), cfg.numHeads(), cfg.numKvHeads(), cfg.headDim(),
                (float) (1.0 / Math.sqrt(cfg.headDim())));
    }

    /** Activation buffers are sized for the largest batch seen and reused. */
    private void ensureActivations(int batch, int seqLen) {
        if (lora != null) lora.ensureRows((long) batch * seqLen);
        if (act != null && act.capacity >= (long) batch * seqLen && act.batchCapacity >= batch) return;
        if (act != null) act.close();
        act = new Activations(backend, cfg, batch, seqLen);
    }

    @Override
    public void close() {
        if (act != null) act.close();
        act = null;
        if (lora != null) lora.close();
        lora = null;
        paramArena.close();
    }
}
