package org.gpt4llm.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.gguf.GgufLlama;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.data.Template;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;

/**
 * A backend to run models on, and the entry point of the library: it loads and imports
 * {@link Model}s, starts {@link FineTuning}s on them and loads {@link RewardScorer}s.
 *
 * <p>Backends: {@code cpu} (OpenBLAS and the engine's C++ kernels, fp32), {@code cuda} (GPU 0: bf16
 * weights and activations, fp32 gradients and optimizer state; refuses with one sentence naming
 * what is missing when there is no NVIDIA driver or cuBLAS) and {@code cuda-emu} (the CUDA kernels
 * in the CPU emulation, for checking the GPU path without a GPU; slow).
 *
 * <p>Ownership and threading: the engine owns its backend and every model, fine-tuning and reward scorer it made;
 * {@link #close} closes those still open, then the backend. An engine and what it made are used by
 * one thread at a time.
 */
public final class Engine implements AutoCloseable {
    private final Backend backend;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private boolean closed;

    private Engine(Backend backend) {
        this.backend = backend;
    }

    /**
     * Opens backend {@code name} ({@code cpu}, {@code cuda} or {@code cuda-emu}); {@code threads} is the
     * number of CPU threads of the kernels and OpenBLAS (ignored on a GPU; 0 or less: every core).
     * Where {@code cuda} cannot run, throws {@link org.gpt4llm.backend.cuda.device.CudaException} with one
     * sentence saying what is missing (driver, cuBLAS, a GPU of compute capability 8.0 or newer).
     */
    public static Engine open(String name, int threads) {
        return open(name, threads, null);
    }

    /**
     * {@link #open(String, int)} keeping the weights of the models it loads in {@code weights}: on the cpu
     * F32, or BF16 or F16, which halve their memory and the bytes each decoded token reads (such weights
     * run frozen: inference and LoRA fine-tuning, not full fine-tuning); the GPU keeps BF16. Null: the
     * backend's own type (F32 on the cpu).
     */
    public static Engine open(String name, int threads, org.gpt4llm.tensor.DType weights) {
        if (!java.util.Set.of("cpu", "cuda", "cuda-emu").contains(name)) {
            throw new IllegalArgumentException("backend " + name + " is not cpu, cuda or cuda-emu");
        }
        return new Engine(Backends.open(name, threads > 0 ? threads : Runtime.getRuntime().availableProcessors(), 0,
                weights));
    }

    /** The {@code cpu} backend on every core. */
    public static Engine cpu() {
        return open("cpu", 0);
    }

    /** The backend's name: cpu, cuda or cuda-emu. */
    public String backendName() {
        return backend.name();
    }

    /** CPU threads the backend's kernels use. */
    public int threads() {
        return backend.threads();
    }

    /**
     * Loads an HF model folder: {@code config.json} (LLaMA or OPT), its safetensors weights (single
     * file or sharded; F32, F16 or BF16) and its tokenizer ({@code tokenizer.json}, or GPT-2's
     * {@code vocab.json} + {@code merges.txt}). The weights are copied onto the backend; the folder may
     * change afterwards. Throws IOException with one sentence naming the folder when something is missing.
     */
    public Model load(Path dir) throws IOException {
        return load(dir, null);
    }

    /**
     * Loads an HF model folder as {@link #load(Path)} does, with the PEFT LoRA adapter folder
     * {@code adapter} ({@code adapter_config.json} + {@code adapter_model.safetensors}, ours or PEFT's)
     * applied on top when it is not null.
     */
    public Model load(Path dir, Path adapter) throws IOException {
        return load(dir, adapter, null);
    }

    /**
     * {@link #load(Path, Path)} keeping this model's weights in {@code weights} rather than the engine's
     * type (null: the engine's): on the cpu F32, or BF16 or F16 (converted while loading), which halve the
     * model's memory and the bytes each decoded token reads; such a model generates and fine-tunes LoRA
     * adapters (fp32, over its frozen weights), not all its weights. A GPU keeps BF16 and refuses others.
     */
    public Model load(Path dir, Path adapter, org.gpt4llm.tensor.DType weights) throws IOException {
        checkOpen();
        if (!Files.isDirectory(dir)) {
            throw new IOException("no model folder at " + dir + " (expected config.json, safetensors weights and tokenizer.json)");
        }
        if (adapter != null && !Files.isRegularFile(adapter.resolve("adapter_config.json"))) {
            throw new IOException("no LoRA adapter at " + adapter + " (expected adapter_config.json and adapter_model.safetensors)");
        }
        DecoderModel m = DecoderModels.load(weights == null ? backend : Backends.withWeightType(backend, weights), dir);
        HfTokenizer tok = null;
        try {
            ModelConfig cfg = m.config();
            tok = Tokenizers.load(dir, cfg.vocabSize());
            if (adapter != null) m.loadAdapter(adapter);
            Model model = new Model(this, dir, m, tok);
            owned.add(model);
            return model;
        } catch (IOException | RuntimeException e) {
            if (tok != null) tok.close();
            m.close();
            throw e;
        }
    }

    /**
     * Converts the llama.cpp GGUF LLaMA {@code gguf} (F32/F16/BF16 tensors, SentencePiece vocabulary)
     * into an HF folder {@code outDir} (created; files there are overwritten) and loads it. Quantised
     * tensors and other architectures are refused by name.
     */
    public Model importGguf(Path gguf, Path outDir) throws IOException {
        checkOpen();
        if (!Files.isRegularFile(gguf)) throw new IOException("no GGUF file at " + gguf);
        if (Files.exists(outDir) && !Files.isDirectory(outDir)) {
            throw new IOException("cannot import " + gguf + " into " + outDir + ": it is a file, not a folder");
        }
        GgufLlama.convert(gguf, outDir);
        return load(outDir);
    }

    /**
     * Loads a trained reward model folder (from {@code gpt4llm rm}, or a transformers
     * {@code *ForSequenceClassification} with one label) and its tokenizer, to score responses formatted
     * with {@code template} (the one it was trained with; {@code rm}'s default is alpaca) and cut to
     * {@code maxLen} tokens as in training. A folder without a reward head is refused in one sentence.
     */
    public RewardScorer loadRewardModel(Path dir, Template template, int maxLen) throws IOException {
        checkOpen();
        if (!Files.isDirectory(dir)) {
            throw new IOException("no reward model folder at " + dir + " (expected config.json, safetensors weights with a"
                    + " reward head, and tokenizer.json)");
        }
        if (maxLen < 2) throw new IllegalArgumentException("the maximum length must be at least 2 tokens, got " + maxLen);
        ModelConfig cfg = ModelConfig.read(RewardModel.modelFolder(dir).resolve("config.json"));
        HfTokenizer tok = Tokenizers.load(dir, cfg.vocabSize());
        try {
            RewardModel rm = RewardModel.loadTrained(backend, dir, tok.padId());
            RewardScorer scorer = new RewardScorer(this, dir, rm, tok, template, maxLen);
            owned.add(scorer);
            return scorer;
        } catch (IOException | RuntimeException e) {
            tok.close();
            throw e;
        }
    }

    /**
     * Starts fine-tuning {@code model} with {@code options}: full (every weight trained) or LoRA
     * ({@link FineTuneOptions#lora}: adapters added to the model, its base frozen). The fine-tuning
     * changes {@code model} in place, so generating from it afterwards shows what was learnt. One
     * fine-tuning per model at a time; close it to free its optimizer state.
     */
    public FineTuning fineTune(Model model, FineTuneOptions options) {
        checkOpen();
        if (model.engine() != this) throw new IllegalArgumentException("the model belongs to another engine");
        FineTuning ft = new FineTuning(model, options.copy().validate());
        owned.add(ft);
        return ft;
    }

    Backend backend() {
        return backend;
    }

    void forget(AutoCloseable c) {
        owned.remove(c);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the engine is closed");
    }

    /** Closes every fine-tuning, model and reward scorer of this engine still open, then the backend. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        // fine-tunings before the models they train: newest first
        List<AutoCloseable> all = new ArrayList<>(owned);
        for (int i = all.size() - 1; i >= 0; i--) {
            try {
                all.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + all.get(i) + " failed: " + e.getMessage(), e);
            }
        }
        owned.clear();
        backend.close();
    }
}
