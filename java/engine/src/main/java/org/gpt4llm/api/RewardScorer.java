package org.gpt4llm.api;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.gpt4llm.data.EncodedGroup;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.data.RewardDataset;
import org.gpt4llm.data.RewardEncoder;
import org.gpt4llm.data.ScoredGroup;
import org.gpt4llm.data.Template;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.tokenizer.HfTokenizer;

/**
 * A trained reward model (a {@code gpt4llm rm} {@code final/} folder, or a transformers
 * {@code *ForSequenceClassification} folder with one label) scoring responses to a prompt, as
 * {@code gpt4llm rm score} and {@code generate --rerank} do: each response is formatted after the
 * prompt with the template the model was trained with, and its reward is the value head read at its
 * last token. Higher is better; only differences between rewards of the same prompt mean something.
 * Made by {@link Engine#loadRewardModel}.
 *
 * <p>Ownership and threading: the weights live on the engine's backend until {@link #close} (or the
 * engine's close). One thread at a time.
 */
public final class RewardScorer implements AutoCloseable {
    private final Engine engine;
    private final Path source;
    private final RewardModel model;
    private final HfTokenizer tokenizer;
    private final RewardEncoder encoder;
    private boolean closed;

    RewardScorer(Engine engine, Path source, RewardModel model, HfTokenizer tokenizer, Template template, int maxLen) {
        this.engine = engine;
        this.source = source;
        this.model = model;
        this.tokenizer = tokenizer;
        this.encoder = new RewardEncoder(tokenizer, template, maxLen);
    }

    /**
     * The reward of each of {@code responses} to the prompt of {@code instruction} and {@code input}
     * ("" or null for none), scored in one forward pass; in the order of {@code responses}.
     */
    public float[] score(String instruction, String input, List<String> responses) {
        return score(List.of(new Prompt(instruction, input, responses))).getFirst();
    }

    /** The reward of one response to an instruction without input. */
    public float score(String instruction, String response) {
        return score(instruction, "", List.of(response))[0];
    }

    /**
     * A prompt and the responses to score for it.
     *
     * @param input "" or null when there is none
     */
    public record Prompt(String instruction, String input, List<String> responses) {
        public Prompt {
            if (instruction == null || instruction.isBlank()) throw new IllegalArgumentException("a prompt needs an instruction");
            input = input == null ? "" : input;
            responses = List.copyOf(responses);
            if (responses.isEmpty()) throw new IllegalArgumentException("there is no response to score");
        }
    }

    /** The rewards of many prompts' responses, 8 prompts per forward pass; one array per prompt, in order. */
    public List<float[]> score(List<Prompt> prompts) {
        if (closed) throw new IllegalStateException("the reward model " + source + " is closed");
        List<EncodedGroup> groups = new ArrayList<>(prompts.size());
        Path where = Path.of("prompts");
        for (int i = 0; i < prompts.size(); i++) {
            Prompt p = prompts.get(i);
            float[] none = new float[p.responses().size()];
            Arrays.fill(none, Float.NaN);
            groups.add(encoder.encode(new ScoredGroup(new RecordRef(where, i, 0), "", List.of(), p.instruction(), p.input(),
                    p.responses(), none, java.util.Collections.nCopies(none.length, ""))));
        }
        return new RewardDataset(groups, tokenizer.padId()).rewards(model, 8);
    }

    /** Frees the weights and the tokenizer. Idempotent. */
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
        return "RewardScorer(" + source + ")";
    }
}
