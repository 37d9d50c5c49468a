package org.gpt4llm.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * A reward model: a decoder backbone without its LM head and a value head v_head = Linear(hidden, 1,
 * bias=False); the reward of a sequence is the head's value at its last non-pad token.
 *
 * <pre>
 * h = backbone(tokens)                [N, C]    (after the final norm)
 * values = h · v_headᵀ                [N, 1]
 * reward[m] = values[last[m]]         [M]       last[m]: flat index of response m's last token
 * </pre>
 * Saved as transformers' {@code *ForSequenceClassification} with one label (what TRL's
 * RewardTrainer writes): the backbone's tensors under their causal-LM names, the head as
 * {@code score.weight} [1, C], and a config.json naming the architecture, {@code num_labels: 1} and the
 * pad token that marks where sequences end. DeepSpeed-Chat's head name {@code v_head.weight} is read too.
 *
 * <p>With LoRA ({@link #enableLora}) the backbone is frozen and only its adapters and the head train;
 * such a reward model is saved as a PEFT folder of task {@code SEQ_CLS} (the adapters, and the head in
 * full as {@code modules_to_save: ["score"]}) naming its base model, and {@link #loadTrained} reads it
 * back on top of that base.
 */
public final class RewardModel implements AutoCloseable {
    /** The head's tensor name in the files written, as transformers names a classifier. */
    public static final String HEAD = "score.weight";
    /** Also accepted when reading (DeepSpeed-Chat's reward models). */
    public static final String V_HEAD = "v_head.weight";
    /** The head's module, saved in full beside LoRA adapters. */
    private static final String HEAD_MODULE = "score";

    private final DecoderModel backbone;
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final Tensor head, dHead;
    private final int padTokenId;
    private Arena bufferArena;
    private long bufferRows;
    private Tensor values, dValues, dHidden;
    private Tensor lastHidden;
    private int[] lastRows;

    private RewardModel(DecoderModel backbone, int padTokenId) {
        this.backbone = backbone;
        this.backend = backbone.backend();
        this.padTokenId = padTokenId;
        int c = backbone.config().hiddenSize();
        head = backend.allocate(arena, MemoryCategory.WEIGHTS, backend.trainedWeightType(), 1, c);
        dHead = backend.allocate(arena, MemoryCategory.GRADIENTS, DType.F32, 1, c);
        backend.zero(dHead);
    }

    /**
     * A reward model from a model folder: a saved reward model as it is, or a causal LM's backbone (its
     * LM head dropped) with a new head ~ normal(0, 0.02) as transformers initialises one, deterministic
     * in {@code seed}. The pad token comes from config.json, else {@code defaultPadId}.
     */
    public static RewardModel load(Backend backend, Path dir, long seed, int defaultPadId) throws IOException {
        return load(backend, dir, seed, defaultPadId, true);
    }

    /**
     * A saved reward model only: a folder without a reward head is one clear error (nothing to score
     * with). A LoRA reward model's adapter folder loads on top of the base model it names.
     */
    public static RewardModel loadTrained(Backend backend, Path dir, int defaultPadId) throws IOException {
        if (!isAdapter(dir)) return load(backend, dir, 0, defaultPadId, false);
        RewardModel rm = load(backend, modelFolder(dir), 0, defaultPadId, true);
        try {
            rm.loadAdapter(dir);
        } catch (IOException | RuntimeException e) {
            rm.close();
            throw e;
        }
        return rm;
    }

    /** Whether {@code dir} is a PEFT adapter folder (adapter_config.json, no config.json of a model). */
    public static boolean isAdapter(Path dir) {
        return Files.isRegularFile(dir.resolve(LoraAdapters.CONFIG)) && !Files.isRegularFile(dir.resolve("config.json"));
    }

    /**
     * The folder holding the model's config.json and weights: {@code dir} itself, or for a LoRA reward
     * model's adapter folder the base model it names (a relative name read against the working folder).
     */
    public static Path modelFolder(Path dir) throws IOException {
        if (!isAdapter(dir)) return dir;
        String name = rewardAdapterBase(dir);
        Path file = dir.resolve(LoraAdapters.CONFIG);
        if (name.isEmpty()) throw new IOException(file + " names no base_model_name_or_path to load the adapters on");
        Path base = Path.of(name);
        if (!Files.isRegularFile(base.resolve("config.json"))) {
            throw new IOException(file + ": its base model " + base + " has no config.json");
        }
        return base;
    }

    private static RewardModel load(Backend backend, Path dir, long seed, int defaultPadId, boolean newHead)
            throws IOException {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) throw new IOException(dir + " has no config.json: not a model folder");
        ModelConfig cfg = ModelConfig.read(config);
        int pad = ModelConfig.JSON.readTree(TextFiles.read(config)).path("pad_token_id").asInt(defaultPadId);
        try (Arena mapping = Arena.ofShared()) {
            Map<String, Tensor> weights = Checkpoint.load(dir, mapping);
            RewardModel rm = new RewardModel(DecoderModels.loadHeadless(backend, cfg, weights, dir), pad);
            String headName = weights.containsKey(HEAD) ? HEAD : V_HEAD;
            Tensor saved = weights.get(headName);
            if (saved != null) {
                if (saved.numel() != cfg.hiddenSize()) {
                    rm.close();
                    throw new IOException(dir + ": the reward head has " + saved.numel() + " values but hidden_size is "
                            + cfg.hiddenSize());
                }
                try {
                    FiniteWeights.upload(backend, rm.head, saved.view(1, cfg.hiddenSize()), headName,
                            () -> Checkpoint.fileOf(dir, headName).toString());
                } catch (RuntimeException e) {
                    rm.close();
                    throw e;
                }
            } else if (newHead) {
                rm.initHead(seed);
            } else {
                rm.close();
                throw new IOException(dir + " has no reward head (" + HEAD + " or " + V_HEAD
                        + "): it is not a reward model; train one with gpt4llm rm");
            }
            return rm;
        }
    }

    /** The base model an adapter folder names, after checking that it is a reward model's (task SEQ_CLS). */
    private static String rewardAdapterBase(Path dir) throws IOException {
        LoraAdapters.Adapted a = LoraAdapters.adapted(dir);
        if (!"SEQ_CLS".equals(a.task())) {
            throw new IOException(dir.resolve(LoraAdapters.CONFIG) + ": task_type " + a.task()
                    + " is not a reward model's (SEQ_CLS); train one with gpt4llm rm --lora-rank");
        }
        return a.baseModel();
    }

    /** A random-init reward model (HF initialisation, head included), for tests and from-scratch runs. */
    public static RewardModel initRandom(Backend backend, ModelConfig cfg, long seed, int padTokenId) {
        try (DecoderModel full = DecoderModels.initRandom(backend, cfg, seed)) {
            RewardModel rm = fromWeights(backend, cfg, full.parameters(), padTokenId);
            rm.initHead(seed + 1);
            return rm;
        }
    }

    /** A reward model holding a copy of {@code weights}: the backbone's tensors and {@link #HEAD} (or {@link #V_HEAD}). */
    public static RewardModel fromWeights(Backend backend, ModelConfig cfg, Map<String, Tensor> weights, int padTokenId) {
        RewardModel rm = new RewardModel(DecoderModels.createHeadless(backend, cfg, weights, "the given weights"),
                padTokenId);
        Tensor h = weights.containsKey(HEAD) ? weights.get(HEAD) : weights.get(V_HEAD);
        if (h != null) backend.upload(rm.head, h.view(1, cfg.hiddenSize()));
        return rm;
    }

    private void initHead(long seed) {
        try (Arena host = Arena.ofConfined()) {
            Tensor h = Tensor.allocate(host, DType.F32, head.shape());
            Initializer.hfNormal(Map.of(HEAD, h), seed);
            backend.upload(head, h);
        }
    }

    public ModelConfig config() {
        return backbone.config();
    }

    public Backend backend() {
        return backend;
    }

    public DecoderModel backbone() {
        return backbone;
    }

    public int padTokenId() {
        return padTokenId;
    }

    /** Every weight by its saved name: the backbone's, then {@link #HEAD}. */
    public Map<String, Tensor> parameters() {
        // read from the backbone each time: a backbone sharded over devices hands its weights over to a store of their own
        Map<String, Tensor> out = new LinkedHashMap<>(backbone.parameters());
        out.put(HEAD, head);
        return Collections.unmodifiableMap(out);
    }

    /** What trains: the backbone's weights (or with LoRA its adapters), then {@link #HEAD}. */
    public Map<String, Tensor> trainableParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>(backbone.trainableParameters());
        out.put(HEAD, head);
        return Collections.unmodifiableMap(out);
    }

    /** The gradients of {@link #trainableParameters}, accumulated by {@link #backward} until {@link #zeroGrad}. */
    public Map<String, Tensor> gradients() {
        Map<String, Tensor> out = new LinkedHashMap<>(backbone.trainableGradients());
        out.put(HEAD, dHead);
        return Collections.unmodifiableMap(out);
    }

    /** Bytes of every gradient buffer: the backbone's (its adapters' with LoRA) and the head's. */
    public long gradientBytes() {
        return backbone.gradientBytes() + dHead.numel() * dHead.dtype().bytes();
    }

    public void zeroGrad() {
        backbone.zeroGrad();
        backend.zero(dHead);
    }

    /** Freezes the backbone and adds LoRA adapters to it ({@link DecoderModel#enableLora}); the head still trains. */
    public void enableLora(LoraConfig c, long seed) {
        backbone.enableLora(c, seed);
    }

    /** The LoRA configuration, or null when every weight trains. */
    public LoraConfig loraConfig() {
        return backbone.loraConfig();
    }

    /** Writes the adapters and the head as a PEFT {@code SEQ_CLS} folder on {@code baseModel}, each file atomically. */
    public void saveAdapter(Path dir, String baseModel) throws IOException {
        backbone.saveAdapter(dir, baseModel, Map.of(HEAD_MODULE, head));
    }

    /** Reads back what {@link #saveAdapter} wrote: the adapters (LoRA enabled with their config if need be) and the head. */
    public void loadAdapter(Path dir) throws IOException {
        rewardAdapterBase(dir); // one sentence for an adapter that is not a reward model's
        backbone.loadAdapter(dir, Map.of(HEAD_MODULE, head));
    }

    /**
     * The rewards of the rows of {@code tokens} read at the flat indices {@code last} (one per
     * response), keeping what {@link #backward} needs.
     */
    public float[] rewards(TokenBatch tokens, int[] last) {
        Tensor h = backbone.forwardHidden(tokens);
        int n = tokens.size();
        ensureBuffers(n);
        Tensor v = values.rows(0, n);
        // every row's value is one GEMV, N·C: reading out only the last rows would need a gather op
        backend.matmul(v, h, false, head, true, 1f, 0f);
        float[] all = backend.download(v);
        float[] r = new float[last.length];
        for (int m = 0; m < last.length; m++) {
            if (last[m] < 0 || last[m] >= n) throw new IllegalArgumentException("read-out index " + last[m] + " is outside the batch of " + n + " tokens");
            r[m] = all[last[m]];
        }
        lastHidden = h;
        lastRows = last.clone();
        return r;
    }

    /** Accumulates the gradients of a loss whose gradient with respect to the last {@link #rewards} is {@code dRewards}. */
    public void backward(float[] dRewards) {
        if (lastHidden == null) throw new IllegalStateException("backward without a forward pass");
        if (dRewards.length != lastRows.length) {
            throw new IllegalArgumentException(dRewards.length + " reward gradients for " + lastRows.length + " rewards");
        }
        int n = (int) lastHidden.shape()[0];
        float[] dv = new float[n];
        for (int m = 0; m < lastRows.length; m++) dv[lastRows[m]] += dRewards[m];
        Tensor dV = dValues.rows(0, n), dH = dHidden.rows(0, n);
        try (Arena host = Arena.ofConfined()) {
            backend.upload(dV, Tensor.of(host, dv, n, 1));
        }
        backend.matmul(dHead, dV, true, lastHidden, false, 1f, 1f); // d head [1, C] += dvᵀ h
        backend.matmul(dH, dV, false, head, false, 1f, 0f);          // d h [N, C] = dv · head
        backbone.backwardHidden(dH);
        lastHidden = null;
    }

    /** Makes room for the value read-out of {@code rows} tokens. */
    private void ensureBuffers(long rows) {
        if (bufferArena != null && bufferRows >= rows) return;
        if (bufferArena != null) bufferArena.close();
        bufferArena = Arena.ofShared();
        bufferRows = rows;
        values = backend.allocate(bufferArena, MemoryCategory.LOGITS, DType.F32, rows, 1);
        dValues = backend.allocate(bufferArena, backend.activationType(), rows, 1);
        dHidden = backend.allocate(bufferArena, backend.activationType(), rows, config().hiddenSize());
    }

    /** Writes the reward model as transformers' {@code *ForSequenceClassification} folder (config.json and safetensors). */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Arena host = Arena.ofConfined()) {
            Map<String, Tensor> onHost = new LinkedHashMap<>(backbone.weightsOnHost(host));
            onHost.put(HEAD, backend.toHost(head, host));
            Checkpoint.save(dir, onHost, DecoderModel.MAX_SHARD_BYTES);
        }
        AtomicFiles.writeJson(dir.resolve("config.json"), configJson());
    }

    /** Rank {@code rank}'s part of {@link #save} while all {@code ranks} save the same model at once (as {@link DecoderModel#saveAsRank}). */
    public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
        Map<String, Long> sizes = new LinkedHashMap<>(Checkpoint.sizes(backbone.parameters()));
        sizes.put(HEAD, head.byteSize());
        try (Arena host = Arena.ofConfined()) {
            Checkpoint.saveAsWriter(dir, sizes, rank, ranks, DecoderModel.MAX_SHARD_BYTES, keep -> {
                Map<String, Tensor> onHost = new LinkedHashMap<>(backbone.weightsOnHost(host, keep));
                if (keep.test(HEAD)) onHost.put(HEAD, backend.toHost(head, host));
                return onHost;
            });
        }
        if (rank == 0) AtomicFiles.writeJson(dir.resolve("config.json"), configJson());
    }

    /** The backbone's config.json, as a one-label sequence classifier. */
    ObjectNode configJson() {
        ObjectNode n = config().toJson();
        String arch = n.path("architectures").path(0).asText();
        n.putArray("architectures").add(arch.replace("ForCausalLM", "ForSequenceClassification"));
        n.put("num_labels", 1);
        n.putObject("id2label").put("0", "LABEL_0");
        n.putObject("label2id").put("LABEL_0", 0);
        n.put("pad_token_id", padTokenId);
        n.put("problem_type", "regression");
        return n;
    }

    @Override
    public void close() {
        if (bufferArena != null) bufferArena.close();
        bufferArena = null;
        backbone.close();
        arena.close();
    }
}
