package org.gpt4llm.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;

/**
 * A {@link DecodeModel} whose logits are a function of each row's tokens so far only, as a real model's
 * are: so whatever a batch holds, a row sees the same logits. It records what it was fed.
 */
final class ScriptedDecodeModel implements DecodeModel {
    private final int vocab, maxPositions;
    private final Function<int[], float[]> logits;
    /** Per session: how many rows it was opened with and how many steps it ran. */
    final List<int[]> sessions = new ArrayList<>();
    /** Every step's fed tokens, across sessions. */
    final List<int[]> fed = new ArrayList<>();

    ScriptedDecodeModel(int vocab, int maxPositions, Function<int[], float[]> logits) {
        this.vocab = vocab;
        this.maxPositions = maxPositions;
        this.logits = logits;
    }

    /**
     * Each prompt is followed by its script (token after token, each logit 12 above random noise in
     * [0, 1)), then by {@code after} for ever. Prompts must not be prefixes of each other.
     */
    static ScriptedDecodeModel scripted(int vocab, int maxPositions, List<int[]> prompts, List<int[]> scripts, int after) {
        return new ScriptedDecodeModel(vocab, maxPositions, seq -> {
            float[] z = noise(seq, vocab);
            int next = after;
            for (int p = 0; p < prompts.size(); p++) {
                int[] prompt = prompts.get(p);
                if (seq.length >= prompt.length && Arrays.equals(prompt, Arrays.copyOf(seq, prompt.length))) {
                    int at = seq.length - prompt.length;
                    if (at < scripts.get(p).length) next = scripts.get(p)[at];
                }
            }
            z[next] += 12f;
            return z;
        });
    }

    /** Logits in [0, 1) seeded by the sequence itself: a stand-in for a model with no preference. */
    static float[] noise(int[] seq, int vocab) {
        SplittableRandom r = new SplittableRandom(Arrays.hashCode(seq));
        float[] z = new float[vocab];
        for (int t = 0; t < vocab; t++) z[t] = (float) r.nextDouble();
        return z;
    }

    @Override
    public DecodeSession open(int maxBatch, int maxLength) {
        if (maxLength > maxPositions) throw new IllegalArgumentException(maxLength + " > " + maxPositions);
        int[] record = {maxBatch, 0};
        sessions.add(record);
        return new DecodeSession() {
            int[][] rows;

            @Override
            public float[][] prefill(int[][] prompts) {
                if (prompts.length > maxBatch) throw new IllegalArgumentException("too many rows");
                rows = new int[prompts.length][];
                for (int i = 0; i < prompts.length; i++) {
                    if (prompts[i].length > maxLength) throw new IllegalArgumentException("prompt too long");
                    rows[i] = prompts[i].clone();
                }
                return all();
            }

            @Override
            public float[][] step(int[] tokens) {
                record[1]++;
                fed.add(tokens.clone());
                for (int i = 0; i < rows.length; i++) {
                    if (rows[i].length >= maxLength) throw new IllegalStateException("row " + i + " is full");
                    rows[i] = Arrays.copyOf(rows[i], rows[i].length + 1);
                    rows[i][rows[i].length - 1] = tokens[i];
                }
                return all();
            }

            private float[][] all() {
                float[][] out = new float[rows.length][];
                for (int i = 0; i < rows.length; i++) out[i] = logits.apply(rows[i]);
                return out;
            }

            @Override public int length(int row) { return rows[row].length; }
            @Override public int maxLength() { return maxLength; }
            @Override public int maxBatch() { return maxBatch; }
            @Override public int vocabSize() { return vocab; }
            @Override public void close() {}
        };
    }

    @Override
    public int maxPositions() {
        return maxPositions;
    }

    @Override
    public int vocabSize() {
        return vocab;
    }
}
