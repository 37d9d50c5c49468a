package org.gpt4llm.model;

/** What the kernels trust about a batch, checked against the model before anything runs. */
final class BatchChecks {
    private BatchChecks() {}

    /** {@link #targets}, and {@link #positions} where the model has a learned position table. */
    static void all(ModelConfig cfg, TokenBatch b) {
        targets(cfg, b);
        if (cfg.learnedPositions()) positions(cfg, b);
    }

    /** A learned position table has max_position_embeddings rows to read; a longer row is one clear error. */
    static void positions(ModelConfig cfg, TokenBatch b) {
        int max = -1;
        for (int p : b.positions()) max = Math.max(max, p);
        if (max >= cfg.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("position " + max + " is beyond max_position_embeddings "
                    + cfg.maxPositionEmbeddings() + " of this " + cfg.modelType() + " model: use a shorter --max-len");
        }
    }

    /** Every target of {@code b} is {@link TokenBatch#IGNORE} or a token of the vocabulary (the kernels trust them). */
    static void targets(ModelConfig cfg, TokenBatch b) {
        int[] t = b.targets();
        for (int row = 0; row < t.length; row++) {
            if (t[row] != TokenBatch.IGNORE && (t[row] < 0 || t[row] >= cfg.vocabSize())) {
                throw new IllegalArgumentException("target " + t[row] + " at row " + row + " is outside the vocabulary of "
                        + cfg.vocabSize());
            }
        }
    }
}
