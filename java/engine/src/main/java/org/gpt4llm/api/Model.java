package org.gpt4llm.api;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.data.Template;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.Generator;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizer;
import org.gpt4llm.train.TokenizerFiles;

/**
 * A decoder language model (LLaMA or OPT) on an {@link Engine}'s backend, with its tokenizer and,
 * optionally, LoRA adapters. Made by {@link Engine#load} or {@link Engine#importGguf}.
 *
 * <p>Generation decodes with a KV cache, the prompts of one call batched together, exactly as
 * {@code gpt4llm generate} and {@code gpt4llm serve} do: greedy when the temperature is 0, otherwise
 * sampled reproducibly from {@link SamplingParams#seed}.
 *
 * <p>Ownership and threading: the model's weights live on the engine's backend until {@link #close}
 * (or the engine's close). One thread at a time; a model being fine-tuned changes with every step.
 */
public final class Model implements AutoCloseable {
    /** Prompts decoded together at most; longer lists are decoded in consecutive batches. */
    private static final int MAX_BATCH = 32;

    private final Engine engine;
    private final Path source;
    private final DecoderModel model;
    private final HfTokenizer tokenizer;
    private boolean closed;
    private boolean training;

    Model(Engine engine, Path source, DecoderModel model, HfTokenizer tokenizer) {
        this.engine = engine;
        this.source = source;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** The folder the model was loaded from (its tokenizer files are copied into every folder saved from it). */
    public Path source() {
        return source;
    }

    /** {@code llama} or {@code opt}. */
    public String architecture() {
        return model.config().modelType();
    }

    /** Number of weights of the base model (adapters not counted). */
    public long parameterCount() {
        return model.parameterCount();
    }

    /** The longest prompt plus completion, in tokens (the model's positions). */
    public int maxLength() {
        return model.maxPositions();
    }

    /** Whether LoRA adapters are on the model (loaded with it, or added by a LoRA fine-tuning). */
    public boolean hasAdapter() {
        return model.loraConfig() != null;
    }

    /** The model's tokenizer; owned by the model (do not close it). */
    public Tokenizer tokenizer() {
        checkOpen();
        return tokenizer;
    }

    /**
     * The prompt text {@code template} makes of an instruction and an optional input ("" or null for
     * none), as training formats it: e.g. Alpaca's "Below is an instruction ... ### Response:".
     * Generating from it continues with the response.
     */
    public String prompt(Template template, String instruction, String input) {
        return template.prompt(instruction, input == null ? "" : input);
    }

    /** The ids generation starts from: the tokenizer's BOS (when it has one), then the text's tokens. */
    public int[] encode(String text) {
        checkOpen();
        return tokenizer.encodeWithBos(text);
    }

    /** Continues {@code prompt} (raw text, BOS added); the completion's text excludes the prompt. */
    public Completion generate(String prompt, SamplingParams params) {
        return generate(List.of(prompt), params, TokenListener.NONE).getFirst();
    }

    /**
     * Continues every prompt of {@code prompts} with the same {@code params}, decoded together, and
     * streams text to {@code listener} as it is generated: {@code onText(i, delta)} for prompt i on this
     * thread (never a partial character, never part of a stop string); returning false ends that prompt
     * ("cancelled"). Returns one completion per prompt, in order.
     */
    public List<Completion> generate(List<String> prompts, SamplingParams params, TokenListener listener) {
        checkOpen();
        List<GenerationRequest> reqs = new ArrayList<>(prompts.size());
        for (String p : prompts) reqs.add(new GenerationRequest(encode(p), params));
        return generateTokens(reqs, listener);
    }

    /** Generation from prompts already tokenised, each with its own parameters; see {@link #generate(List, SamplingParams, TokenListener)}. */
    public List<Completion> generateTokens(List<GenerationRequest> requests, TokenListener listener) {
        checkOpen();
        if (requests.isEmpty()) return List.of();
        model.setTraining(false); // no LoRA dropout while decoding
        try {
            return new Generator(model, tokenizer, Math.min(MAX_BATCH, requests.size()), 0).generate(requests, listener);
        } finally {
            model.setTraining(training);
        }
    }

    /**
     * Writes the model as an HF folder {@code dir}: {@code config.json}, safetensors in the backend's
     * weight type (F32 on the CPU, BF16 on a GPU) and the tokenizer files of {@link #source}. A model
     * with adapters is refused: save them with {@link #saveAdapter}, or {@link #mergeAdapter} first.
     */
    public void save(Path dir) throws IOException {
        checkOpen();
        if (hasAdapter()) {
            throw new IllegalStateException("the model has LoRA adapters: save them with saveAdapter, or mergeAdapter first"
                    + " to write one plain checkpoint");
        }
        model.save(dir);
        TokenizerFiles.copy(source, dir);
    }

    /**
     * Writes the LoRA adapters as a PEFT folder {@code dir} ({@code adapter_config.json},
     * {@code adapter_model.safetensors}, each written atomically) with the tokenizer files;
     * {@link Engine#load(Path, Path)} of the base folder and this one gives this model back.
     */
    public void saveAdapter(Path dir) throws IOException {
        checkOpen();
        if (!hasAdapter()) throw new IllegalStateException("the model has no LoRA adapters to save");
        model.saveAdapter(dir, source.toString());
        TokenizerFiles.copy(source, dir);
    }

    /** Folds the adapters into the weights (W += alpha/r · B·A) and removes them. */
    public void mergeAdapter() {
        checkOpen();
        if (!hasAdapter()) throw new IllegalStateException("the model has no LoRA adapters to merge");
        model.mergeLora();
    }

    /** Frees the weights and the tokenizer. Idempotent; the model cannot be used afterwards. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        tokenizer.close();
        model.close();
        engine.forget(this);
    }

    @Override
    public String toString() {
        return "Model(" + source + ")";
    }

    Engine engine() {
        return engine;
    }

    DecoderModel decoder() {
        checkOpen();
        return model;
    }

    HfTokenizer hfTokenizer() {
        return tokenizer;
    }

    void setTraining(boolean on) {
        training = on;
        model.setTraining(on);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the model " + source + " is closed");
    }
}
