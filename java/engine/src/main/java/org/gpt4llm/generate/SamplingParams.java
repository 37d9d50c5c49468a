package org.gpt4llm.generate;

import java.util.List;

/**
 * How one sequence is decoded, with the meanings of HF's {@code generate} and OpenAI's API.
 *
 * @param maxNewTokens      tokens generated at most
 * @param temperature       0 is greedy (argmax); otherwise logits are divided by it before sampling
 * @param topK              keep the k most likely tokens (0: all)
 * @param topP              keep the smallest set whose probability reaches p (1: all)
 * @param repetitionPenalty CTRL's penalty on tokens already in the sequence, prompt included (1: none)
 * @param stop              strings that end the text when generated (not included in it)
 * @param stopAtEos         whether the EOS token ends the text
 * @param seed              the sampling generator's seed: the same seed, prompt and model give the same text
 */
public record SamplingParams(int maxNewTokens, float temperature, int topK, float topP, float repetitionPenalty,
                             List<String> stop, boolean stopAtEos, long seed) {
    public SamplingParams {
        if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must not be negative, got " + maxNewTokens);
        if (!(temperature >= 0) || !Float.isFinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must not be negative, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(repetitionPenalty > 0) || !Float.isFinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition penalty must be positive, got " + repetitionPenalty);
        }
        stop = List.copyOf(stop);
    }

    /** Greedy decoding of up to {@code maxNewTokens}, ending at EOS. */
    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(maxNewTokens, 0f, 0, 1f, 1f, List.of(), true, 0L);
    }
}
