package org.gpt4llm.train;

import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.data.PaddedRows;

/** A task a tiny LLaMA learns in a few dozen steps, and the pieces the trainer tests share. */
final class Synthetic {
    static final LlamaConfig TINY = LlamaConfig.builder().hiddenSize(32).intermediateSize(64).numLayers(2).numHeads(4)
            .numKvHeads(2).rmsNormEps(1e-5f).vocabSize(32).maxPositionEmbeddings(64).build();

    private Synthetic() {}

    /**
     * Rows that count upwards modulo the vocabulary from a random start, 6 to 12 tokens long: after
     * the first token every next token is predictable.
     */
    static BatchSource<TokenBatch> counting(int rows, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[][] data = new int[rows][];
        for (int r = 0; r < rows; r++) {
            data[r] = new int[6 + rng.nextInt(7)];
            int a = rng.nextInt(TINY.vocabSize());
            for (int j = 0; j < data[r].length; j++) data[r][j] = (a + j) % TINY.vocabSize();
        }
        java.util.List<TokenBatch> rowBatches = new java.util.ArrayList<>();
        for (int[] row : data) rowBatches.add(TokenBatch.causalLm(new int[][] {row}, 0));
        return new PaddedRows(rowBatches, 0);
    }

    static FullFineTune model(Backend be, long seed) {
        return new FullFineTune(DecoderModels.initRandom(be, TINY, seed), null);
    }

    /** A short run: 64 rows, batch 8 in micro-batches of 4, 3 epochs = 24 steps, eval every 5, a checkpoint every 4. */
    static TrainConfig config(Path out) {
        return builder(out).build().validate();
    }

    /** The learning rate of {@link #config}. */
    static final double LR = 1e-2;

    /** {@link #config}'s values, to change some of them. */
    static TrainConfig.Builder builder(Path out) {
        return TrainConfig.builder().model("unused").out(out.toString()).seed(7).batch(8).microBatch(4).epochs(3).lr(LR)
                .warmupRatio(0.1).evalEvery(5).saveEvery(4).keep(2);
    }

    /**
     * Delegates to a model, failing in chosen ways at a chosen step (counted by zeroGrad calls, one per
     * step), or in every save after writing part of it (a full disk).
     */
    static final class Faulty implements TrainableModel<TokenBatch> {
        final TrainableModel<TokenBatch> inner;
        final int failAtStep;
        final boolean nan;
        final boolean fullDisk;
        /** From step {@code blockFrom} on, the file each save leaves a folder in the place of; null: none. */
        final String blocks;
        final int blockFrom;
        int step;

        /** {@code nan}: the loss of that step is NaN; otherwise the step throws, as if the process died. */
        Faulty(TrainableModel<TokenBatch> inner, int failAtStep, boolean nan) {
            this(inner, failAtStep, nan, false, null, 0);
        }

        private Faulty(TrainableModel<TokenBatch> inner, int failAtStep, boolean nan, boolean fullDisk, String blocks,
                       int blockFrom) {
            this.inner = inner;
            this.failAtStep = failAtStep;
            this.nan = nan;
            this.fullDisk = fullDisk;
            this.blocks = blocks;
            this.blockFrom = blockFrom;
        }

        /**
         * Trains normally, but from step {@code from} on every save first leaves a folder where {@code file}
         * goes in the checkpoint, so that the rank that writes {@code file} fails, then writes the weights.
         */
        static Faulty blocking(TrainableModel<TokenBatch> inner, String file, int from) {
            return new Faulty(inner, -1, false, false, file, from);
        }

        /** Trains normally, but every save writes the weights and then fails as a full disk does. */
        static Faulty fullDisk(TrainableModel<TokenBatch> inner) {
            return new Faulty(inner, -1, false, true, null, 0);
        }

        @Override
        public Backend backend() {
            return inner.backend();
        }

        @Override
        public float forward(TokenBatch batch) {
            if (step == failAtStep && !nan) throw new IllegalStateException("killed at step " + step);
            float loss = inner.forward(batch);
            return step == failAtStep ? Float.NaN : loss;
        }

        @Override
        public void backward(float gradScale) {
            inner.backward(gradScale);
        }

        @Override
        public void zeroGrad() {
            step++;
            inner.zeroGrad();
        }

        @Override
        public org.gpt4llm.model.DecoderModel decoder() {
            return inner.decoder();
        }

        @Override
        public Map<String, Tensor> trainableParameters() {
            return inner.trainableParameters();
        }

        @Override
        public Map<String, Tensor> trainableGradients() {
            return inner.trainableGradients();
        }

        @Override
        public void save(Path dir) throws java.io.IOException {
            block(dir);
            inner.save(dir);
            if (fullDisk) throw new java.io.IOException(dir + ": No space left on device");
        }

        @Override
        public void saveAsRank(Path dir, int rank, int ranks) throws java.io.IOException {
            block(dir);
            inner.saveAsRank(dir, rank, ranks);
            if (fullDisk) throw new java.io.IOException(dir + ": No space left on device");
        }

        private void block(Path dir) throws java.io.IOException {
            if (blocks != null && step >= blockFrom) java.nio.file.Files.createDirectories(dir.resolve(blocks).resolve("taken"));
        }

        @Override
        public void restore(Path dir) throws java.io.IOException {
            inner.restore(dir);
        }
    }
}
