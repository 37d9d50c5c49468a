package org.gpt4llm.reference;

import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;

/**
 * libtorch's decode loop ({@link TorchLlama#openDecoding}: a KV cache grown with {@code torch.cat},
 * no autograd) behind the engine's {@link DecodeModel}, so a benchmark runs both with one loop. Rows
 * must share one prompt length.
 */
public final class TorchDecodeModel implements DecodeModel {
    private final TorchLlama model;

    public TorchDecodeModel(TorchLlama model) {
        this.model = model;
    }

    @Override
    public DecodeSession open(int maxBatch, int maxLength) {
        TorchLlama.Decoding d = model.openDecoding();
        return new DecodeSession() {
            private int rows;

            @Override
            public float[][] prefill(int[][] prompts) {
                if (prompts.length > maxBatch) throw new IllegalArgumentException(prompts.length + " prompts for a batch of " + maxBatch);
                rows = prompts.length;
                return d.prefill(prompts);
            }

            @Override
            public float[][] step(int[] tokens) {
                if (d.length() >= maxLength) throw new IllegalStateException("the rows already hold " + maxLength + " tokens");
                return d.step(tokens);
            }

            @Override
            public int length(int row) {
                if (row < 0 || row >= rows) throw new IndexOutOfBoundsException("row " + row + " of " + rows);
                return d.length();
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
                return model.config().vocabSize();
            }

            @Override
            public void close() {
                d.close();
            }
        };
    }

    @Override
    public int maxPositions() {
        return model.config().maxPositionEmbeddings();
    }

    @Override
    public int vocabSize() {
        return model.config().vocabSize();
    }
}
