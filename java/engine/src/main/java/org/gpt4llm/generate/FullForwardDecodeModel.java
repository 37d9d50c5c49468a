package org.gpt4llm.generate;

import java.util.Arrays;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;

/**
 * A {@link DecodeModel} without a KV cache: every prefill and every step runs the whole forward of
 * {@link DecoderModel} over all rows so far (right-padded, {@link TokenBatch#causalLm}) and reads the
 * logits at each row's last token. Quadratic in the length, but exact by construction: the reference
 * a cached implementation is checked against, and a working decoder until one exists.
 */
public final class FullForwardDecodeModel implements DecodeModel {
    private final DecoderModel model;
    private final int padId;

    /** @param padId the token that pads shorter rows (never attended to) */
    public FullForwardDecodeModel(DecoderModel model, int padId) {
        this.model = model;
        this.padId = padId;
        model.setTraining(false); // no LoRA dropout
    }

    @Override
    public DecodeSession open(int maxBatch, int maxLength) {
        if (maxBatch < 1) throw new IllegalArgumentException("a session needs at least one row, got " + maxBatch);
        if (maxLength < 1 || maxLength > maxPositions()) {
            throw new IllegalArgumentException("a session of " + maxLength + " tokens per row does not fit the model's "
                    + maxPositions() + " positions");
        }
        return new Session(maxBatch, maxLength);
    }

    @Override
    public int maxPositions() {
        return model.config().maxPositionEmbeddings();
    }

    @Override
    public int vocabSize() {
        return model.config().vocabSize();
    }

    private final class Session implements DecodeSession {
        private final int maxBatch, maxLength;
        private int[][] rows;

        Session(int maxBatch, int maxLength) {
            this.maxBatch = maxBatch;
            this.maxLength = maxLength;
        }

        @Override
        public float[][] prefill(int[][] prompts) {
            if (prompts.length < 1 || prompts.length > maxBatch) {
                throw new IllegalArgumentException(prompts.length + " prompts for a session of " + maxBatch + " rows");
            }
            int[][] copy = new int[prompts.length][];
            for (int i = 0; i < prompts.length; i++) {
                if (prompts[i].length < 1 || prompts[i].length > maxLength) {
                    throw new IllegalArgumentException("prompt " + i + " has " + prompts[i].length
                            + " tokens; a row holds 1 to " + maxLength);
                }
                copy[i] = prompts[i].clone();
            }
            rows = copy;
            return forward();
        }

        @Override
        public float[][] step(int[] tokens) {
            if (rows == null) throw new IllegalStateException("step before prefill");
            if (tokens.length != rows.length) {
                throw new IllegalArgumentException(tokens.length + " tokens for " + rows.length + " rows");
            }
            for (int i = 0; i < rows.length; i++) {
                if (rows[i].length >= maxLength) {
                    throw new IllegalStateException("row " + i + " already holds " + maxLength + " tokens");
                }
            }
            for (int i = 0; i < rows.length; i++) {
                rows[i] = Arrays.copyOf(rows[i], rows[i].length + 1);
                rows[i][rows[i].length - 1] = tokens[i];
            }
            return forward();
        }

        /** The logits after each row's last token. */
        private float[][] forward() {
            TokenBatch batch = TokenBatch.causalLm(rows, padId);
            model.forward(batch);
            Tensor logits = model.logits();
            float[][] out = new float[rows.length][];
            for (int i = 0; i < rows.length; i++) {
                out[i] = model.backend().download(logits.rows((long) i * batch.seqLen() + rows[i].length - 1, 1));
            }
            return out;
        }

        @Override
        public int length(int row) {
            return rows == null ? 0 : rows[row].length;
        }

        @Override
        public int maxLength() {
            return maxLength;
        }

        @Override
        public int maxBatch() {
            return maxBatch;
        }

        @Override
        public int vocabSize() {
            return FullForwardDecodeModel.this.vocabSize();
        }

        @Override
        public void close() {
            rows = null;
        }
    }
}
