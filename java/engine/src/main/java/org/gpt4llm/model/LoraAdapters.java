package org.gpt4llm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The LoRA adapters of a {@link DecoderModel}: for each chosen linear layer W [out, in], A [r, in] and
 * B [out, r] with {@code y = x Wᵀ + (alpha/r) (dropout(x) Aᵀ) Bᵀ}, their fp32 gradients, and the
 * saved {@code t = dropout(x) Aᵀ} of the last forward. Stored and named as PEFT does
 * ({@code adapter_config.json} + {@code adapter_model.safetensors}, tensors
 * {@code base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight}, OPT's under
 * {@code model.decoder.layers}).
 */
final class LoraAdapters implements AutoCloseable {
    static final String CONFIG = "adapter_config.json", WEIGHTS = "adapter_model.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Backend backend;
    private final LoraConfig cfg;
    private final Arena arena = Arena.ofShared();
    /** [layer][index in the model's linear targets], null where that layer has no adapter. */
    private final Adapter[][] adapters;
    private final Map<String, Tensor> params = new LinkedHashMap<>(), grads = new LinkedHashMap<>();
    private Arena savedArena;
    private long savedRows;
    private Tensor dt;

    /** One adapter; {@code t} is the forward's saved dropout(x) Aᵀ, F32 [rows capacity, r]. */
    private static final class Adapter {
        final String baseName;
        final Tensor a, b, dA, dB;
        Tensor t;

        Adapter(String baseName, Tensor a, Tensor b, Tensor dA, Tensor dB) {
            this.baseName = baseName;
            this.a = a;
            this.b = b;
            this.dA = dA;
            this.dB = dB;
        }
    }

    /** A ~ uniform(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming_uniform_(a=sqrt(5))), B = 0; deterministic in {@code seed}. */
    LoraAdapters(Backend backend, ModelConfig model, LoraConfig cfg, long seed) {
        this.backend = backend;
        this.cfg = cfg;
        List<String> targets = model.linearTargets();
        for (String t : cfg.targets()) {
            if (!targets.contains(t)) {
                throw new IllegalArgumentException("--lora-targets: " + t + " is not a linear layer of a " + model.modelType()
                        + " model (" + String.join(", ", targets) + ")");
            }
        }
        Map<String, long[]> shapes = DecoderModels.parameterShapes(model);
        adapters = new Adapter[model.numLayers()][targets.size()];
        SplittableRandom rng = new SplittableRandom(seed);
        try (Arena host = Arena.ofConfined()) {
            for (int l = 0; l < model.numLayers(); l++) {
                for (int i = 0; i < targets.size(); i++) {
                    if (!cfg.targets(targets.get(i))) continue;
                    String base = DecoderLayout.linearName(model, l, i);
                    long[] w = shapes.get(base + ".weight");
                    long out = w[0], in = w[1], r = cfg.rank();
                    Adapter ad = new Adapter(base, backend.allocate(arena, MemoryCategory.WEIGHTS, backend.trainedWeightType(), r, in),
                            backend.allocate(arena, MemoryCategory.WEIGHTS, backend.trainedWeightType(), out, r),
                            backend.allocate(arena, MemoryCategory.GRADIENTS, DType.F32, r, in),
                            backend.allocate(arena, MemoryCategory.GRADIENTS, DType.F32, out, r));
                    float bound = (float) (1.0 / Math.sqrt(in));
                    float[] init = new float[(int) (r * in)];
                    for (int k = 0; k < init.length; k++) init[k] = (float) ((2 * rng.nextDouble() - 1) * bound);
                    backend.upload(ad.a, Tensor.of(host, init, r, in));
                    adapters[l][i] = ad;
                    params.put(peftName(base, "A"), ad.a);
                    params.put(peftName(base, "B"), ad.b);
                    grads.put(peftName(base, "A"), ad.dA);
                    grads.put(peftName(base, "B"), ad.dB);
                }
            }
        }
    }

    /** PEFT's name of factor "A" or "B" of the adapter on base layer {@code base} ("model.layers.0.self_attn.q_proj"). */
    static String peftName(String base, String factor) {
        return "base_model.model." + base + ".lora_" + factor + ".weight";
    }

    /**
     * The dropout seed of one adapter in one step: distinct layers and targets get unrelated masks
     * (SplitMix64's finaliser over the step seed and the adapter's index).
     */
    static long dropoutSeed(long stepSeed, int layer, int target) {
        return LoraDropout.adapterSeed(stepSeed, adapterIndex(layer, target));
    }

    /** The adapter's index in the hash of its seed: LLaMA's 7 linear layers per block bound every family's count. */
    static int adapterIndex(int layer, int target) {
        return layer * LoraConfig.LLAMA_TARGETS.size() + target;
    }


    LoraConfig config() {
        return cfg;
    }

    /** Refuses a folder's adapters ({@code c}, read from {@code dir}) of another rank, alpha or targets than these. */
    void requireSameShape(LoraConfig c, Path dir) throws IOException {
        if (cfg.rank() != c.rank() || cfg.alpha() != c.alpha() || !Set.copyOf(cfg.targets()).equals(Set.copyOf(c.targets()))) {
            throw new IOException(dir.resolve(CONFIG) + ": rank " + c.rank() + ", alpha " + c.alpha() + " on " + c.targets()
                    + " does not match this model's adapters (rank " + cfg.rank() + ", alpha " + cfg.alpha() + " on "
                    + cfg.targets() + ")");
        }
    }

    Map<String, Tensor> parameters() {
        return params;
    }

    Map<String, Tensor> gradients() {
        return grads;
    }

    /** Bytes of the adapters' gradient buffers. */
    long gradientBytes() {
        return grads.values().stream().mapToLong(t -> t.numel() * t.dtype().bytes()).sum();
    }

    /** Bytes of the forward's saved products dropout(x) Aᵀ, one per adapter (0 before the first forward). */
    long savedBytes() {
        if (savedArena == null) return 0;
        long count = Arrays.stream(adapters).flatMap(Arrays::stream).filter(java.util.Objects::nonNull).count();
        return count * savedRows * cfg.rank() * DType.F32.bytes();
    }

    /** Makes room for the saved activations of a forward over {@code rows} tokens; true when it (re)allocated them. */
    boolean ensureRows(long rows) {
        if (savedArena != null && savedRows >= rows) return false;
        if (savedArena != null) savedArena.close();
        savedArena = Arena.ofShared();
        savedRows = rows;
        for (Adapter[] layer : adapters) for (Adapter ad : layer) if (ad != null) ad.t = backend.allocate(savedArena, MemoryCategory.ACTIVATIONS, DType.F32, rows, cfg.rank());
        dt = backend.allocate(savedArena, DType.F32, rows, cfg.rank());
        return true;
    }

    /**
     * y [n, out] += the adapter's output on x [n, in], if layer {@code layer} has one on {@code target}.
     * The dropout masks come from {@code stepSeed}, or, when {@code step} is not null, from its seed
     * where the step's scalars live (so that a captured step replays with each step's masks).
     */
    void forward(int layer, int target, Tensor y, Tensor x, int n, boolean training, long stepSeed, StepScalars step) {
        Adapter ad = adapters[layer][target];
        if (ad == null) return;
        float p = training ? cfg.dropout() : 0f;
        if (step != null && p > 0f) {
            backend.loraForward(y, ad.t.rows(0, n), x, ad.a, ad.b, cfg.scale(), p, step, adapterIndex(layer, target));
        } else {
            backend.loraForward(y, ad.t.rows(0, n), x, ad.a, ad.b, cfg.scale(), p, dropoutSeed(stepSeed, layer, target));
        }
    }

    /** The adapter's gradients from dy [n, out], and its part of dx [n, in] (accumulated), with the forward's masks. */
    void backward(int layer, int target, Tensor dx, Tensor dy, Tensor x, int n, boolean training, long stepSeed,
                  StepScalars step) {
        Adapter ad = adapters[layer][target];
        if (ad == null) return;
        float p = training ? cfg.dropout() : 0f;
        if (step != null && p > 0f) {
            backend.loraBackward(dx, ad.dA, ad.dB, dt.rows(0, n), dy, x, ad.a, ad.b, ad.t.rows(0, n), cfg.scale(), p, step,
                    adapterIndex(layer, target));
        } else {
            backend.loraBackward(dx, ad.dA, ad.dB, dt.rows(0, n), dy, x, ad.a, ad.b, ad.t.rows(0, n), cfg.scale(), p,
                    dropoutSeed(stepSeed, layer, target));
        }
    }

    /** W += (alpha/r) B A for every adapter, computed in fp32 and stored in W's own dtype. */
    void mergeInto(Map<String, Tensor> base) {
        try (Arena tmp = Arena.ofConfined()) {
            for (Adapter[] layer : adapters) {
                for (Adapter ad : layer) {
                    if (ad == null) continue;
                    Tensor w = base.get(ad.baseName + ".weight");
                    Tensor wf = f32(tmp, w), af = f32(tmp, ad.a), bf = f32(tmp, ad.b);
                    backend.matmul(wf, bf, false, af, false, cfg.scale(), 1f);
                    backend.convert(w, wf);
                }
            }
        }
    }

    private Tensor f32(Arena tmp, Tensor t) {
        Tensor f = backend.allocate(tmp, DType.F32, t.shape());
        backend.convert(f, t);
        return f;
    }

    /** PEFT's name of the weight of module {@code module} trained in full beside the adapters ("score"). */
    static String moduleName(String module) {
        return "base_model.model." + module + ".weight";
    }

    /**
     * Writes {@code adapter_model.safetensors} then {@code adapter_config.json}, each atomically.
     * {@code modules} are weights trained in full beside the adapters by module name (PEFT's
     * {@code modules_to_save}: a reward model's head, which makes the task {@code SEQ_CLS}).
     */
    void save(Path dir, String baseModel, Map<String, Tensor> modules) throws IOException {
        Files.createDirectories(dir);
        try (Arena host = Arena.ofConfined()) {
            Map<String, Tensor> onHost = new LinkedHashMap<>();
            params.forEach((name, p) -> onHost.put(name, backend.toHost(p, host)));
            modules.forEach((module, p) -> onHost.put(moduleName(module), backend.toHost(p, host)));
            SafeTensors.write(dir.resolve(WEIGHTS), onHost, Map.of("format", "pt"));
        }
        ObjectNode c = JSON.createObjectNode();
        c.put("peft_type", "LORA");
        c.put("task_type", modules.isEmpty() ? "CAUSAL_LM" : "SEQ_CLS");
        c.put("r", cfg.rank());
        c.put("lora_alpha", cfg.alpha());
        c.put("lora_dropout", cfg.dropout());
        c.putArray("target_modules").addAll(cfg.targets().stream().map(JSON.getNodeFactory()::textNode).toList());
        c.put("bias", "none");
        c.put("fan_in_fan_out", false);
        c.put("base_model_name_or_path", baseModel);
        c.put("inference_mode", true);
        if (modules.isEmpty()) c.putNull("modules_to_save");
        else c.putArray("modules_to_save").addAll(modules.keySet().stream().map(JSON.getNodeFactory()::textNode).toList());
        AtomicFiles.writeJson(dir.resolve(CONFIG), c);
    }

    /** The {@link LoraConfig} of a PEFT adapter folder's {@code adapter_config.json}. */
    static LoraConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) throw new IOException(dir + " has no " + CONFIG + ": not a PEFT adapter folder");
        JsonNode c;
        try {
            c = JSON.readTree(TextFiles.read(file));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + " is not valid JSON: " + e.getMessage(), e);
        }
        if (!"LORA".equals(c.path("peft_type").asText("LORA"))) throw new IOException(file + ": peft_type " + c.get("peft_type") + " is not LORA");
        if (!c.path("r").canConvertToInt()) throw new IOException(file + " has no integer \"r\"");
        if (!"none".equals(c.path("bias").asText("none"))) throw new IOException(file + ": bias " + c.get("bias") + " is not supported, only \"none\"");
        if (c.path("fan_in_fan_out").asBoolean(false)) throw new IOException(file + ": fan_in_fan_out true is not supported");
        if (c.path("use_rslora").asBoolean(false)) throw new IOException(file + ": use_rslora true is not supported");
        if (c.path("use_dora").asBoolean(false)) throw new IOException(file + ": use_dora true (DoRA) is not supported");
        for (String field : List.of("layers_to_transform", "rank_pattern", "alpha_pattern")) {
            JsonNode f = c.path(field);
            if (!f.isMissingNode() && !f.isNull() && !(f.isContainerNode() && f.isEmpty())) throw new IOException(file + ": " + field + " is not supported");
        }
        JsonNode t = c.path("target_modules");
        List<String> targets = new ArrayList<>();
        if (t.isArray()) t.forEach(n -> targets.add(n.asText()));
        else if (t.isTextual()) targets.add(t.asText());
        else throw new IOException(file + " has no target_modules list");
        int r = c.get("r").asInt();
        float alpha = (float) c.path("lora_alpha").asDouble(8), dropout = (float) c.path("lora_dropout").asDouble(0);
        try {
            return new LoraConfig(r, alpha, dropout, targets);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** What an adapter folder adapts: its {@code task_type} ({@code CAUSAL_LM} when none) and base model ("" if none). */
    record Adapted(String task, String baseModel) {}

    static Adapted adapted(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        try {
            JsonNode c = JSON.readTree(TextFiles.read(file));
            return new Adapted(c.path("task_type").asText("CAUSAL_LM"), c.path("base_model_name_or_path").asText(""));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /**
     * Copies the tensors of {@code adapter_model.safetensors} into these adapters and into
     * {@code modules} (as {@link #save} wrote them), checking names and shapes.
     */
    void load(Path dir, Map<String, Tensor> modules) throws IOException {
        Map<String, Tensor> targets = new LinkedHashMap<>(params);
        modules.forEach((module, p) -> targets.put(moduleName(module), p));
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            throw new IOException(dir + " has no " + WEIGHTS + (Files.exists(dir.resolve("adapter_model.bin"))
                    ? " (adapter_model.bin, a pickle, is not read: save the adapter with safe_serialization)" : ""));
        }
        try (Arena mapping = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(file, mapping);
            for (String name : st.names()) {
                if (!targets.containsKey(name)) throw new IOException(file + ": tensor " + name + " is not a LoRA tensor of this model and config");
            }
            for (var e : targets.entrySet()) {
                if (!st.contains(e.getKey())) throw new IOException(file + ": tensor " + e.getKey() + " is missing");
                Tensor src = st.tensor(e.getKey());
                if (!Arrays.equals(src.shape(), e.getValue().shape())) {
                    throw new IOException(file + ": tensor " + e.getKey() + " has shape " + Arrays.toString(src.shape())
                            + " but the model needs " + Arrays.toString(e.getValue().shape()));
                }
                FiniteWeights.upload(backend, e.getValue(), src, e.getKey(), file::toString);
            }
        }
    }

    @Override
    public void close() {
        if (savedArena != null) savedArena.close();
        savedArena = null;
        arena.close();
    }
}
