package org.gpt4llm.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.Activations.LayerActs;
import org.gpt4llm.model.LayerOps.AdapterPass;
import org.gpt4llm.model.LayerOps.Layer;
import org.gpt4llm.model.LayerOps.Norm;
import org.gpt4llm.tensor.Tensor;

/**
 * A decoder-only transformer with a hand-written backward, llm.c style: the forward saves every
 * activation the backward needs (or each layer's input, {@link #setRecompute}), the backward walks the
 * layers in reverse and accumulates into one gradient tensor per parameter that trains (a frozen one
 * has none, {@link #freeze}). One code path runs every {@link ModelConfig} family; the config
 * chooses the norm, the positions, the MLP and whether linear layers have biases. Parameters and
 * activations are stored in the backend's types (fp32 on the CPU, bf16 on a GPU); gradients are
 * fp32. Names are those of HF checkpoints.
 *
 * <pre>
 * x0 = embed[tokens]  (+ pos[positions + 2] with learned positions, OPT)       [N, C]   N = B*T
 * per layer:  a = x + Wo · attn(Wq·n1, Wk·n1, Wv·n1),  n1 = norm1(x)           (rotary on q, k: LLaMA)
 *             x' = a + mlp(norm2(a))        mlp = Wd·(silu(Wg·) * Wu·)  LLaMA,  W2·relu(W1·)  OPT
 * norm = RMSNorm·w (LLaMA) or LayerNorm·w + b (OPT); every W· has a bias in OPT
 * h = normF(x_L)                                                              [N, C]   (the hidden states)
 * logits = lm_head · h                                                        [N, V]   (tied: lm_head = embed)
 * loss = mean over targets != -100 of cross-entropy(logits, target)
 * </pre>
 * A model without its LM head ({@link #createHeadless}) is the backbone of a reward model: it stops at
 * h ({@link #forwardHidden}) and takes d loss/d h back ({@link #backwardHidden}). With
 * {@link #enableLora} each chosen linear layer gains {@code + (alpha/r) (dropout(x) Aᵀ) Bᵀ}
 * ({@link LoraAdapters}) and the base weights are frozen. {@link #open} starts incremental decoding
 * with a KV cache ({@link KvCacheSession}), which runs the same layers on new tokens only.
 */
public final class DecoderModel implements AutoCloseable, DecodeModel {
    /** Shards written by {@link #save} stay below this size, as HF's default "5GB". */
    public static final long MAX_SHARD_BYTES = 5_000_000_000L;

    private final Backend backend;
    private final ModelConfig cfg;
    private final boolean withHead;
    /**
     * Owns the parameters' memory, until {@link #adoptWeights} hands it over to a store of their own (null
     * then), and again once {@link #reclaimWeights} took them back.
     */
    private Arena paramArena = Arena.ofShared();
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    /** Only the parameters that train have a gradient buffer (none while the model only runs forward). */
    private final Gradients gradients;
    private final LayerOps ops;
    private final List<Layer> layers = new ArrayList<>();
    private Tensor embed, posTable, lmHead;
    /** The parameter whose gradient the LM head's accumulates into (the embeddings when tied), or null. */
    private final String lmHeadName;
    private Norm finalNorm;
    private Activations act;
    /** Counts the reallocations of the buffers a training step's work reads (a captured step must not outlive them). */
    private long bufferGeneration;
    /** The inputs of the last forward, in their input slot. */
    private Activations.Inputs in;
    /** How the last forward ran the adapters; its backward runs them so. */
    private AdapterPass forwardPass;
    private TokenBatch lastBatch;
    private boolean lastHadLogits;
    private int lastTargetCount;
    /** LoRA adapters when {@link #enableLora} froze the base weights, else null (full fine-tuning). */
    private LoraAdapters lora;
    private boolean training = true;
    /** False while the adapters are switched off ({@link #setAdaptersEnabled}). */
    private boolean adaptersOn = true;
    private long dropoutSeed;
    /** Keep only each layer's input in the forward and recompute the layer in the backward. */
    private boolean recompute;
    private java.util.function.IntConsumer gradientsDone; // see onGradientsDone; null: nobody listens
    /** Where the weights are gathered before use and given back after (sharded over devices), or null. */
    private LayerHooks hooks;

    /** Parameters allocated (not filled) for {@code cfg}; {@link DecoderModels} fills them. */
    DecoderModel(Backend backend, ModelConfig cfg, boolean withHead) {
        this.backend = backend;
        this.cfg = cfg;
        this.withHead = withHead;
        Map<String, long[]> shapes = DecoderLayout.parameterShapes(cfg, withHead);
        shapes.forEach((name, shape) -> params.put(name, backend.allocate(paramArena, MemoryCategory.WEIGHTS, backend.parameterType(shape), shape)));
        gradients = new Gradients(backend, shapes);
        ops = new LayerOps(backend, cfg, gradients);
        String d = cfg.decoderPrefix();
        // tied embeddings: the head is the embedding matrix, and both gradients land in one tensor
        lmHeadName = !withHead ? null : cfg.tieWordEmbeddings() ? d + "embed_tokens.weight" : "lm_head.weight";
        bindWeights();
    }

    /** Points the fields the passes read at the tensors of {@link #params}. */
    private void bindWeights() {
        String d = cfg.decoderPrefix();
        embed = params.get(d + "embed_tokens.weight");
        posTable = params.get(d + "embed_positions.weight");
        finalNorm = LayerOps.norm(params, cfg.finalNormName());
        lmHead = !withHead ? null : params.get(lmHeadName);
        layers.clear();
        for (int l = 0; l < cfg.numLayers(); l++) layers.add(LayerOps.layer(cfg, params, l));
    }

    /** Writes {@code config.json} and safetensors (sharded above {@link #MAX_SHARD_BYTES}) in the parameters' dtype. */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Arena host = Arena.ofConfined()) {
            Checkpoint.save(dir, weightsOnHost(host), MAX_SHARD_BYTES);
        }
        cfg.write(dir.resolve("config.json"), backend.weightType());
    }

    /**
     * Rank {@code rank}'s part of {@link #save} while all {@code ranks} ranks save the same model at once, each
     * from its own replica, in parallel: its files of the weights ({@link Checkpoint#saveAsWriter}); rank 0
     * also the index and config.json. Sharded (ZeRO 3), every rank gathers every layer, as a forward does,
     * and copies only its own tensors, so no host holds more than its part.
     */
    public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
        try (Arena host = Arena.ofConfined()) {
            Checkpoint.saveAsWriter(dir, Checkpoint.sizes(params), rank, ranks, MAX_SHARD_BYTES, keep -> weightsOnHost(host, keep));
        }
        if (rank == 0) cfg.write(dir.resolve("config.json"), backend.weightType());
    }

    /** Copies of the weights in {@code host}, by name; sharded, each layer is gathered for its copy and given back. */
    public Map<String, Tensor> weightsOnHost(Arena host) {
        return LayerHooks.copyToHost(hooks, backend, params, host);
    }

    /** Copies of the weights {@code keep} accepts, gathering every layer all the same (see {@link #saveAsRank}). */
    public Map<String, Tensor> weightsOnHost(Arena host, java.util.function.Predicate<String> keep) {
        return LayerHooks.copyToHost(hooks, backend, params, host, keep);
    }

    /**
     * Hands the weights' memory over to {@code store} (each parameter's name, shape and type, valid only
     * while {@code hooks} has gathered it) and releases the model's own; weights sharded over devices live so.
     */
    public void adoptWeights(Map<String, Tensor> store, LayerHooks hooks) {
        params.replaceAll((name, p) -> LayerHooks.sameAs(p, store.get(name), name));
        bindWeights();
        if (paramArena != null) paramArena.close(); // from now on it owns nothing
        paramArena = null;
        this.hooks = hooks;
        bufferGeneration++;
    }

    /**
     * The inverse of {@link #adoptWeights}: takes {@code whole} (every parameter whole, by name, with its
     * shape and type) as the model's own weights, in {@code owner}, which the model closes from now on, and
     * stops calling the hooks, so the model decodes, saves and trains as before. Whoever sharded the weights
     * gathers them into {@code whole} (over devices, every device's model at once).
     */
    public void reclaimWeights(Map<String, Tensor> whole, Arena owner) {
        if (hooks == null) throw new IllegalStateException("the model owns its weights already: nothing to reclaim");
        params.replaceAll((name, p) -> LayerHooks.sameAs(p, whole.get(name), name));
        bindWeights();
        paramArena = owner;
        hooks = null;
        bufferGeneration++;
    }

    public ModelConfig config() {
        return cfg;
    }

    public Backend backend() {
        return backend;
    }

    /** Parameters by HF name (live fp32 tensors). */
    public Map<String, Tensor> parameters() {
        return params;
    }

    /** Gradients by HF name of the parameters that train (none for a frozen one), accumulated until {@link #zeroGrad}. */
    public Map<String, Tensor> gradients() {
        return gradients.all();
    }

    /** Bytes of every gradient buffer this model holds: its own parameters' and its adapters'. */
    public long gradientBytes() {
        return gradients.bytes() + (lora == null ? 0 : lora.gradientBytes());
    }

    /** Freezes parameters (HF names): no gradient buffer, no weight-gradient work, not seen by the optimizer. */
    public void freeze(java.util.Collection<String> names) {
        gradients.freeze(names);
    }

    public long parameterCount() {
        return params.values().stream().mapToLong(Tensor::numel).sum();
    }

    public void zeroGrad() {
        for (Tensor g : trainableGradients().values()) backend.zero(g);
    }

    /**
     * Adds LoRA adapters (A ~ uniform(-1/sqrt(in), 1/sqrt(in)) as PEFT's kaiming-uniform init, B = 0,
     * deterministic in {@code seed}) and freezes the base weights: from now on the backward computes
     * gradients only for the adapters, and {@link #trainableParameters} are the adapters.
     */
    public void enableLora(LoraConfig c, long seed) {
        if (lora != null) throw new IllegalStateException("LoRA is already enabled on this model");
        lora = new LoraAdapters(backend, cfg, c, seed);
        gradients.freeze(params.keySet());
        lastBatch = null; // a forward without the adapters has no backward with them
        bufferGeneration++;
    }

    /** Off: following passes skip the adapters, the frozen base alone (PEFT's disable_adapter(); DPO's reference). */
    public void setAdaptersEnabled(boolean on) {
        if (lora == null && !on) throw new IllegalStateException("this model has no adapters to switch off");
        adaptersOn = on;
    }

    /** The adapters a pass starting now runs: null without LoRA or while they are switched off. */
    private LoraAdapters activeAdapters() {
        return adaptersOn ? lora : null;
    }

    /** The LoRA configuration, or null when the model is fully trainable. */
    public LoraConfig loraConfig() {
        return lora == null ? null : lora.config();
    }

    /** What an optimizer updates: the parameters not frozen (HF names), then the adapters with LoRA (PEFT names). */
    public Map<String, Tensor> trainableParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        params.forEach((name, p) -> {
            if (!gradients.frozen(name)) out.put(name, p);
        });
        if (lora != null) out.putAll(lora.parameters());
        return out;
    }

    /** The gradients of {@link #trainableParameters}, under the same names. */
    public Map<String, Tensor> trainableGradients() {
        Map<String, Tensor> out = new LinkedHashMap<>(gradients.all());
        if (lora != null) out.putAll(lora.gradients());
        return out;
    }

    /** With {@code recompute} a forward keeps each layer's input only; the backward recomputes the layer. */
    public void setRecompute(boolean recompute) {
        if (this.recompute == recompute) return;
        this.recompute = recompute;
        freeActivations();
    }

    /**
     * Frees the buffers a forward keeps for its backward (and the staged inputs and logits with them): a
     * model done training gives their memory back; the next {@link #stage} allocates them again.
     */
    public void freeActivations() {
        if (act != null) act.close();
        act = null;
        lastBatch = null;
        bufferGeneration++;
    }

    public boolean recompute() {
        return recompute;
    }

    /** Bytes of the activations a forward keeps for its backward (category {@code activations}), layers' and adapters'. */
    public long activationBytes() {
        return (act == null ? 0 : act.savedBytes()) + (lora == null ? 0 : lora.savedBytes());
    }

    /** Calls {@code hook} with each layer the backward completed, last first, then -1 for embeddings, final norm and head. */
    public void onGradientsDone(java.util.function.IntConsumer hook) {
        gradientsDone = hook;
    }

    /** The layers' gradients in a ring of two layers' buffers: each backward needs an onGradientsDone listener to empty it. */
    public void streamGradients(boolean on) {
        gradients.stream(on);
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
        saveAdapter(dir, baseModel, Map.of());
    }

    /** As above, with weights trained in full beside the adapters, by module name (a reward model's head). */
    void saveAdapter(Path dir, String baseModel, Map<String, Tensor> modules) throws IOException {
        if (lora == null) throw new IllegalStateException("no LoRA adapters to save: enableLora was not called");
        lora.save(dir, baseModel, modules);
    }

    /**
     * Loads a PEFT LoRA adapter folder (ours or PEFT's): enables LoRA with its adapter_config.json
     * when the model has none yet, then reads every adapter tensor, checking names and shapes.
     */
    public void loadAdapter(Path dir) throws IOException {
        loadAdapter(dir, Map.of());
    }

    /** As above, reading also the weights {@link #saveAdapter(Path, String, Map)} wrote beside the adapters. */
    void loadAdapter(Path dir, Map<String, Tensor> modules) throws IOException {
        LoraConfig c = LoraAdapters.readConfig(dir);
        if (lora == null) enableLora(c, 0);
        else lora.requireSameShape(c, dir);
        lora.load(dir, modules);
    }

    /** Folds the adapters into the base weights, W += (alpha/r) B A, and removes them: the model is a plain LLaMA again. */
    public void mergeLora() {
        if (lora == null) throw new IllegalStateException("no LoRA adapters to merge");
        lora.mergeInto(params);
        lora.close();
        lora = null;
        gradients.unfreeze(params.keySet());
        lastBatch = null; // the last forward's adapters are gone
        bufferGeneration++;
    }

    /** Logits [B*T, V] of the last forward; the backward overwrites them with their gradient. */
    public Tensor logits() {
        if (act == null || lastBatch == null || !lastHadLogits) throw new IllegalStateException("no forward pass yet");
        return act.logits.rows(0, lastBatch.size());
    }

    /** Runs the network on {@code batch}, keeping what the backward needs: the mean cross-entropy over its targets (0 without). */
    public float forward(TokenBatch batch) {
        requireHead();
        Tensor losses = logitsAndLosses(batch, forwardHidden(batch), null);
        if (lastTargetCount == 0) return 0f;
        double sum = 0;
        for (float v : backend.download(losses)) sum += v;
        return (float) (sum / lastTargetCount);
    }

    /**
     * Checks a training step's micro-batches against the model and uploads micro-batch i into input slot i
     * (buffers sized for the largest); {@link #forward(TokenBatch, int, StepScalars)} then runs slot i.
     */
    public void stage(List<TokenBatch> micro) {
        stage(micro, null);
    }

    /** As above, with a float per row of micro-batch i ({@code rowValues[i]}, or none) in its upload: {@link #rowValues} reads them. */
    public void stage(List<TokenBatch> micro, List<float[]> rowValues) {
        for (TokenBatch b : micro) BatchChecks.all(cfg, b);
        ensureActivations(micro.stream().mapToInt(TokenBatch::batch).max().orElse(0),
                micro.stream().mapToLong(TokenBatch::size).max().orElse(0));
        for (int i = 0; i < micro.size(); i++) act.load(micro.get(i), i, rowValues == null ? null : rowValues.get(i));
    }

    /** The row values {@link #stage(List, List)} gave slot {@code slot}'s micro-batch {@code batch}, F32 [rows]. */
    public Tensor rowValues(int slot, TokenBatch batch) {
        return act.rowValues(slot, batch.size(), batch.batch());
    }

    /**
     * A training step's forward of {@code batch}, staged in slot {@code slot}: its loss sum is added to {@code step}'s
     * on the device and nothing is read back (the step can be captured); dropout masks use {@code step}'s seed.
     */
    public void forward(TokenBatch batch, int slot, StepScalars step) {
        backend.addLoss(step, forwardLosses(batch, slot, step), lastTargetCount);
    }

    /** That forward with the loss sum left alone: the per-token losses F32 [B*T] (0 where ignored), for a loss built on them. */
    public Tensor forwardLosses(TokenBatch batch, int slot, StepScalars step) {
        requireHead();
        return logitsAndLosses(batch, runHidden(batch, act.inputs(slot, batch.size()), step), step);
    }

    /** The LM head's logits and the per-row losses of the batch whose hidden states xf the last forward left. */
    private Tensor logitsAndLosses(TokenBatch batch, Tensor xf, StepScalars step) {
        int n = batch.size();
        Tensor logits = act.logits.rows(0, n);
        backend.matmul(logits, xf, false, lmHead, true, 1f, 0f);
        Tensor losses = act.losses.rows(0, n);
        lastTargetCount = backend.crossEntropy(losses, null, logits, in.targets(), batch.targets(), TokenBatch.IGNORE, step);
        lastHadLogits = true;
        return losses;
    }

    /** The decoder on {@code batch} up to the final norm, keeping what the backward needs: h [B*T, C], valid until the next forward. */
    public Tensor forwardHidden(TokenBatch batch) {
        if (cfg.learnedPositions()) BatchChecks.positions(cfg, batch);
        ensureActivations(batch.batch(), batch.size());
        return runHidden(batch, act.load(batch, 0), null);
    }

    /** The decoder on the inputs {@code inputs} of {@code batch}; {@code step} as {@link #forward(TokenBatch, int, StepScalars)} takes it. */
    private Tensor runHidden(TokenBatch batch, Activations.Inputs inputs, StepScalars step) {
        in = inputs;
        forwardPass = new AdapterPass(activeAdapters(), training, dropoutSeed, step);
        lastHadLogits = false;
        backend.rangePush("forward");
        Activations a = act;
        int n = batch.size();
        AttentionShape shape = DecoderLayout.attentionShape(cfg, batch);
        Tensor x = a.resid[0].rows(0, n);
        if (hooks != null) hooks.gather(LayerHooks.OUTSIDE, true);
        backend.embeddingForward(x, in.tokens(), embed);
        if (posTable != null) {
            Tensor pos = a.dNorm.rows(0, n); // a backward buffer, free during the forward
            backend.embeddingForward(pos, in.positionIds(), posTable);
            backend.add(x, x, pos);
        }
        for (int l = 0; l < layers.size(); l++) {
            backend.rangePush("layer " + l);
            if (hooks != null) hooks.gather(l, true);
            layerForward(l, n, shape, a.resid[l + 1].rows(0, n));
            if (hooks != null) hooks.release(l);
            backend.rangePop();
        }
        Tensor xf = a.normF.rows(0, n);
        ops.normForward(finalNorm, xf, rows(a.meanF, n), a.rstdF.rows(0, n), a.resid[layers.size()].rows(0, n));
        lastBatch = batch;
        backend.rangePop();
        return xf;
    }

    /**
     * Layer l of the forward from its input {@code resid[l]} to {@code xOut}, saving what its backward
     * needs in {@code layers[l]}; the LoRA dropout masks are those of the last forward, so that a
     * recomputation replays it exactly.
     */
    private void layerForward(int l, int n, AttentionShape shape, Tensor xOut) {
        Activations a = act;
        Layer w = layers.get(l);
        LayerActs s = a.layers[l];
        Tensor xIn = a.resid[l].rows(0, n), xMid = s.mid().rows(0, n);
        Tensor n1 = s.norm1().rows(0, n), q = s.q().rows(0, n), k = s.k().rows(0, n), v = s.v().rows(0, n);
        Tensor att = s.att().rows(0, n);
        ops.normForward(w.attnNorm(), n1, rows(s.mean1(), n), s.rstd1().rows(0, n), xIn);
        ops.qkvForward(l, w, q, k, v, n1, in.positions(), a.ones, n, forwardPass);
        backend.attentionForward(att, s.lse(shape), q, k, v, in.segments(), shape);
        backend.copy(xMid, xIn);
        ops.linearForward(l, w.o(), xMid, att, a.ones, n, true, forwardPass);
        Tensor n2 = s.norm2().rows(0, n), g = s.gate().rows(0, n), h = s.hidden().rows(0, n);
        ops.normForward(w.mlpNorm(), n2, rows(s.mean2(), n), s.rstd2().rows(0, n), xMid);
        ops.mlpHidden(l, w, h, g, rows(s.up(), n), n2, a.ones, n, forwardPass);
        backend.copy(xOut, xMid);
        ops.linearForward(l, w.mlp().getLast(), xOut, h, a.ones, n, true, forwardPass);
    }

    /**
     * A KV-cache decoding session of up to {@code maxBatch} rows of up to {@code maxLength} tokens
     * (at most max_position_embeddings). It runs in evaluation mode with the adapters loaded now.
     */
    @Override
    public KvCacheSession open(int maxBatch, int maxLength) {
        requireHead();
        if (hooks != null) throw new IllegalStateException("a model whose weights are sharded over devices cannot decode");
        return new KvCacheSession(this, maxBatch, maxLength);
    }

    @Override
    public int maxPositions() {
        return cfg.maxPositionEmbeddings();
    }

    @Override
    public int vocabSize() {
        return cfg.vocabSize();
    }

    /**
     * The forward of {@code shape.newTokens()} new tokens per row of a decode session: the layers of
     * {@link #forwardHidden} with the k, v of the new tokens appended to the session's caches and
     * attention over the caches, then the final norm and LM head on each row's last token only, into
     * {@code w.logits} [rows, V]. Tokens, positions (and OPT's position ids) and lengths are uploaded.
     * {@code range} names the NVTX range: {@code prefill} for the prompts, {@code decode} for a step.
     */
    void decodeForward(KvCacheSession session, KvCacheSession.Work w, DecodeShape shape, String range) {
        int batch = shape.batch(), tq = shape.newTokens(), n = batch * tq;
        long cacheRows = (long) batch * shape.maxLength();
        if (lora != null && lora.ensureRows(n)) bufferGeneration++;
        AdapterPass pass = AdapterPass.evaluation(activeAdapters());
        backend.rangePush(range);
        Tensor x = w.x.rows(0, n), n1 = w.n.rows(0, n), mean = rows(w.mean, n), rstd = w.rstd.rows(0, n);
        Tensor q = w.q.rows(0, n), k = w.k.rows(0, n), v = w.v.rows(0, n), att = w.att.rows(0, n);
        Tensor g = w.gate.rows(0, n), h = w.hidden.rows(0, n), positions = w.positions.rows(0, n);
        Tensor lengths = w.lengths.rows(0, batch);
        backend.embeddingForward(x, w.tokens.rows(0, n), embed);
        if (posTable != null) {
            backend.embeddingForward(att, w.positionIds.rows(0, n), posTable);
            backend.add(x, x, att);
        }
        for (int l = 0; l < layers.size(); l++) {
            Layer lw = layers.get(l);
            Tensor kc = session.kCache[l].rows(0, cacheRows), vc = session.vCache[l].rows(0, cacheRows);
            ops.normForward(lw.attnNorm(), n1, mean, rstd, x);
            ops.qkvForward(l, lw, q, k, v, n1, positions, w.ones, n, pass);
            backend.kvCacheWrite(kc, k, lengths, shape);
            backend.kvCacheWrite(vc, v, lengths, shape);
            backend.attentionDecode(att, q, kc, vc, lengths, shape);
            ops.linearForward(l, lw.o(), x, att, w.ones, n, true, pass);
            ops.normForward(lw.mlpNorm(), n1, mean, rstd, x);
            ops.mlpHidden(l, lw, h, g, rows(w.up, n), n1, w.ones, n, pass);
            ops.linearForward(l, lw.mlp().getLast(), x, h, w.ones, n, true, pass);
        }
        // only each row's last token goes on to the head
        Tensor last = x;
        if (tq > 1) {
            last = w.last.rows(0, batch);
            for (int b = 0; b < batch; b++) backend.copy(last.rows(b, 1), x.rows((long) b * tq + tq - 1, 1));
        }
        Tensor hf = w.lastNorm.rows(0, batch);
        ops.normForward(finalNorm, hf, rows(w.mean, batch), w.rstd.rows(0, batch), last);
        backend.matmul(w.logits.rows(0, batch), hf, false, lmHead, true, 1f, 0f);
        backend.rangePop();
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
        backwardFromLogits(null, gradScale, null);
    }

    /**
     * The backward of a training step's {@link #forward(TokenBatch, int, StepScalars) forward}: the
     * gradient scale is {@code step}'s, read where the step's scalars live, and nothing is read back.
     */
    public void backward(StepScalars step) {
        backwardFromLogits(step, 0f, null);
    }

    /** The backward of Σ_b rowScales[b] · (row b's summed token losses) of the last forward; rowScales F32 [B] on the backend. */
    public void backward(Tensor rowScales) {
        backwardFromLogits(null, 0f, rowScales);
    }

    /** d logits (in place over the logits, scaled by the row scales, {@code step}'s scale or {@code gradScale}), then the rest. */
    private void backwardFromLogits(StepScalars step, float gradScale, Tensor rowScales) {
        startBackward();
        int n = lastBatch.size();
        Tensor logits = act.logits.rows(0, n), losses = act.losses.rows(0, n);
        if (rowScales != null) backend.crossEntropy(losses, logits, logits, in.targets(), lastBatch.targets(), TokenBatch.IGNORE, rowScales);
        else if (step == null) backend.crossEntropy(losses, logits, logits, in.targets(), TokenBatch.IGNORE, gradScale);
        else backend.crossEntropy(losses, logits, logits, in.targets(), lastBatch.targets(), TokenBatch.IGNORE, step);
        backwardFromLogitGradients();
    }

    private void startBackward() {
        if (lastBatch == null || !lastHadLogits) throw new IllegalStateException("backward without a forward pass");
        backend.rangePush("backward");
    }

    /** From d logits (in place over the logits) down: the LM head's gradients, then the decoder's. */
    private void backwardFromLogitGradients() {
        Activations a = act;
        int n = lastBatch.size();
        Tensor logits = a.logits.rows(0, n), xf = a.normF.rows(0, n);
        Tensor dLmHead = gradients.of(lmHeadName);
        if (dLmHead != null) backend.matmul(dLmHead, logits, true, xf, false, 1f, 1f);
        Tensor dxn = a.dNorm.rows(0, n);
        backend.matmul(dxn, logits, false, lmHead, false, 1f, 0f);
        backwardDecoder(dxn);
        backend.rangePop();
    }

    /**
     * Accumulates the gradients of a loss whose gradient with respect to the hidden states of the last
     * {@link #forwardHidden} is {@code dHidden} [B*T, C] (the backend's activation type).
     */
    public void backwardHidden(Tensor dHidden) {
        if (lastBatch == null) throw new IllegalStateException("backward without a forward pass");
        long n = lastBatch.size();
        if (dHidden.rank() != 2 || dHidden.shape()[0] != n || dHidden.shape()[1] != cfg.hiddenSize()) {
            throw new IllegalArgumentException("d hidden has shape " + java.util.Arrays.toString(dHidden.shape())
                    + " but the last forward produced [" + n + ", " + cfg.hiddenSize() + "]");
        }
        backend.rangePush("backward");
        backwardDecoder(dHidden);
        backend.rangePop();
    }

    /** The backward from d h (the final norm's output) down to the embeddings. */
    private void backwardDecoder(Tensor dHidden) {
        Activations a = act;
        int n = lastBatch.size();
        AttentionShape shape = DecoderLayout.attentionShape(cfg, lastBatch);
        if (gradients.streamed() && gradientsDone == null) throw new IllegalStateException("the gradients stream by layer: a backward needs an onGradientsDone listener");
        // a frozen norm's weight gradient still comes out of the norm kernel: into scratch nobody reads
        backend.zero(a.discardedNormGrads);
        Tensor dxn = a.dNorm.rows(0, n), dres = a.dResid.rows(0, n), ones = a.ones;
        AdapterPass pass = forwardPass;
        backend.zero(dres);
        ops.normBackward(finalNorm, dres, dHidden, a.resid[layers.size()].rows(0, n), rows(a.meanF, n), a.rstdF.rows(0, n),
                a.discardedNormGrads);
        for (int l = layers.size() - 1; l >= 0; l--) {
            backend.rangePush("layer " + l);
            if (hooks != null) hooks.gather(l, false);
            // the last layer's activations are still in the shared set; d xn is free until the layer's backward
            if (a.recompute && l < layers.size() - 1) layerForward(l, n, shape, dxn);
            Layer w = layers.get(l);
            LayerActs s = a.layers[l];
            // MLP: x' = mid + W_out·h ; dres flows to mid unchanged
            Tensor n2 = s.norm2().rows(0, n), g = s.gate().rows(0, n), h = s.hidden().rows(0, n);
            Tensor dh = a.dHidden.rows(0, n), dg = a.dGate.rows(0, n);
            ops.linearBackward(l, w.mlp().getLast(), dh, dres, h, ones, n, false, pass);
            if (cfg.gatedMlp()) {
                Tensor du = a.dUp.rows(0, n);
                backend.swigluBackward(dg, du, dh, g, s.up().rows(0, n));
                ops.linearBackward(l, w.mlp().get(0), dxn, dg, n2, ones, n, false, pass);
                ops.linearBackward(l, w.mlp().get(1), dxn, du, n2, ones, n, true, pass);
            } else {
                backend.reluBackward(dg, dh, g);
                ops.linearBackward(l, w.mlp().get(0), dxn, dg, n2, ones, n, false, pass);
            }
            ops.normBackward(w.mlpNorm(), dres, dxn, s.mid().rows(0, n), rows(s.mean2(), n), s.rstd2().rows(0, n),
                    a.discardedNormGrads);
            // attention: mid = x + Wo·att
            Tensor att = s.att().rows(0, n), datt = a.dAtt.rows(0, n);
            Tensor dq = a.dQ.rows(0, n), dk = a.dK.rows(0, n), dv = a.dV.rows(0, n), n1 = s.norm1().rows(0, n);
            ops.linearBackward(l, w.o(), datt, dres, att, ones, n, false, pass);
            backend.attentionBackward(dq, dk, dv, datt, att, s.lse(shape), s.q().rows(0, n), s.k().rows(0, n),
                    s.v().rows(0, n), in.segments(), shape, a.attentionWorkspace);
            if (!cfg.learnedPositions()) {
                backend.ropeBackward(dq, in.positions(), cfg.numHeads(), cfg.headDim(), cfg.ropeTheta());
                backend.ropeBackward(dk, in.positions(), cfg.numKvHeads(), cfg.headDim(), cfg.ropeTheta());
            }
            ops.linearBackward(l, w.q(), dxn, dq, n1, ones, n, false, pass);
            ops.linearBackward(l, w.k(), dxn, dk, n1, ones, n, true, pass);
            ops.linearBackward(l, w.v(), dxn, dv, n1, ones, n, true, pass);
            ops.normBackward(w.attnNorm(), dres, dxn, a.resid[l].rows(0, n), rows(s.mean1(), n), s.rstd1().rows(0, n),
                    a.discardedNormGrads);
            if (gradientsDone != null) gradientsDone.accept(l);
            if (hooks != null) hooks.release(l);
            backend.rangePop();
        }
        String d = cfg.decoderPrefix();
        Tensor dEmbed = gradients.of(d + "embed_tokens.weight");
        if (dEmbed != null) backend.embeddingBackward(dEmbed, in.tokens(), dres);
        Tensor dPosTable = posTable == null ? null : gradients.of(d + "embed_positions.weight");
        if (dPosTable != null) backend.embeddingBackward(dPosTable, in.positionIds(), dres);
        if (gradientsDone != null) gradientsDone.accept(-1);
        if (hooks != null) hooks.release(LayerHooks.OUTSIDE);
        lastBatch = null; // the logits now hold their gradient
    }

    /** The first n rows of a buffer that only some families have (LayerNorm's means), or null. */
    private static Tensor rows(Tensor t, int n) {
        return t == null ? null : t.rows(0, n);
    }

    /** Activation buffers are sized for the largest batch (rows, and tokens of all rows) seen and reused. */
    private void ensureActivations(int batch, long tokens) {
        if (lora != null && lora.ensureRows(tokens)) bufferGeneration++;
        if (act != null && act.capacity >= tokens && act.batchCapacity >= batch && act.recompute == recompute) return;
        if (act != null) {
            batch = Math.max(batch, act.batchCapacity);
            tokens = Math.max(tokens, act.capacity);
            act.close();
        }
        act = new Activations(backend, cfg, batch, (int) ((tokens + batch - 1) / batch), withHead, recompute);
        bufferGeneration++;
    }

    /** Grows when {@link #stage} or a forward reallocates the buffers a step reads: captured work must not outlive them. */
    public long bufferGeneration() {
        return bufferGeneration + gradients.generation();
    }

    private void requireHead() {
        if (!withHead) throw new IllegalStateException("this model has no LM head: it is a reward model's backbone");
    }

    @Override
    public void close() {
        if (act != null) act.close();
        act = null;
        if (lora != null) lora.close();
        lora = null;
        gradients.close();
        if (paramArena != null) paramArena.close();
        paramArena = null;
    }
}
