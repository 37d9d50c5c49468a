package org.gpt4llm.model;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Every buffer of a {@link DecoderModel} forward and backward pass, owned by one arena. Buffers only
 * some families use are null in the others: LayerNorm's means, SwiGLU's up projection, the ones
 * column of the bias GEMMs, the ids into a learned position table.
 */
final class Activations implements AutoCloseable {
    final Arena arena = Arena.ofShared();
    final long capacity;
    final int batchCapacity;
    final Tensor tokensAll, targetsAll, positionsAll, segmentsAll, positionIdsAll;
    final Tensor[] resid;
    final LayerActs[] layers;
    final Tensor normF, meanF, rstdF, logits, losses, ones;
    final Tensor dResid, dNorm, dAtt, dQ, dK, dV, dGate, dUp, dHidden;

    /** Saved forward activations of one layer; gate holds the first MLP projection (SwiGLU's gate, OPT's fc1). */
    record LayerActs(Tensor norm1, Tensor mean1, Tensor rstd1, Tensor q, Tensor k, Tensor v, Tensor att, Tensor lseAll,
                     Tensor mid, Tensor norm2, Tensor mean2, Tensor rstd2, Tensor gate, Tensor up, Tensor hidden) {
        Tensor lse(AttentionShape s) {
            return lseAll.rows(0, (long) s.batch() * s.heads() * s.seqLen());
        }
    }

    /** {@code withLogits}: whether the model has an LM head (a reward model's backbone does not). */
    Activations(Backend be, ModelConfig c, int batch, int seqLen, boolean withLogits) {
        long n = (long) batch * seqLen;
        capacity = n;
        batchCapacity = batch;
        long h = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
        DType at = be.activationType();
        // activations in the backend's storage type; normalisation statistics, lse and losses in fp32
        java.util.function.Function<long[], Tensor> act = shape -> be.allocate(arena, at, shape);
        java.util.function.Function<long[], Tensor> f32 = shape -> be.allocate(arena, DType.F32, shape);
        java.util.function.Supplier<Tensor> mean = () -> c.layerNorm() ? f32.apply(new long[] {n}) : null;
        tokensAll = be.allocate(arena, DType.I32, n);
        targetsAll = be.allocate(arena, DType.I32, n);
        positionsAll = be.allocate(arena, DType.I32, n);
        segmentsAll = be.allocate(arena, DType.I32, n);
        positionIdsAll = c.learnedPositions() ? be.allocate(arena, DType.I32, n) : null;
        resid = new Tensor[c.numLayers() + 1];
        for (int i = 0; i <= c.numLayers(); i++) resid[i] = act.apply(new long[] {n, h});
        layers = new LayerActs[c.numLayers()];
        for (int i = 0; i < c.numLayers(); i++) {
            layers[i] = new LayerActs(act.apply(new long[] {n, h}), mean.get(), f32.apply(new long[] {n}),
                    act.apply(new long[] {n, h}), act.apply(new long[] {n, kv}), act.apply(new long[] {n, kv}),
                    act.apply(new long[] {n, h}), f32.apply(new long[] {n * c.numHeads()}),
                    act.apply(new long[] {n, h}), act.apply(new long[] {n, h}), mean.get(), f32.apply(new long[] {n}),
                    act.apply(new long[] {n, f}), c.gatedMlp() ? act.apply(new long[] {n, f}) : null,
                    act.apply(new long[] {n, f}));
        }
        normF = act.apply(new long[] {n, h});
        meanF = mean.get();
        rstdF = f32.apply(new long[] {n});
        logits = withLogits ? act.apply(new long[] {n, c.vocabSize()}) : null;
        losses = withLogits ? f32.apply(new long[] {n}) : null;
        if (c.linearBias()) {
            ones = act.apply(new long[] {n, 1});
            try (Arena host = Arena.ofConfined()) {
                float[] one = new float[(int) n];
                java.util.Arrays.fill(one, 1f);
                be.upload(ones, Tensor.of(host, one, n, 1));
            }
        } else {
            ones = null;
        }
        dResid = act.apply(new long[] {n, h});
        dNorm = act.apply(new long[] {n, h});
        dAtt = act.apply(new long[] {n, h});
        dQ = act.apply(new long[] {n, h});
        dK = act.apply(new long[] {n, kv});
        dV = act.apply(new long[] {n, kv});
        dGate = act.apply(new long[] {n, f});
        dUp = c.gatedMlp() ? act.apply(new long[] {n, f}) : null;
        dHidden = act.apply(new long[] {n, f});
    }

    void load(Backend be, TokenBatch b) {
        int n = b.size();
        be.upload(tokens(n), b.tokens());
        be.upload(targets(n), b.targets());
        be.upload(positions(n), b.positions());
        be.upload(segments(n), b.segments());
        if (positionIdsAll != null) {
            // OPT's table is offset: position p reads row p + 2
            int[] ids = b.positions().clone();
            for (int i = 0; i < ids.length; i++) ids[i] += OptConfig.POSITION_OFFSET;
            be.upload(positionIds(n), ids);
        }
    }

    Tensor tokens(int n) {
        return tokensAll.rows(0, n);
    }

    Tensor targets(int n) {
        return targetsAll.rows(0, n);
    }

    Tensor positions(int n) {
        return positionsAll.rows(0, n);
    }

    Tensor segments(int n) {
        return segmentsAll.rows(0, n);
    }

    /** Rows of the learned position table each token reads (learned positions only). */
    Tensor positionIds(int n) {
        return positionIdsAll.rows(0, n);
    }

    @Override
    public void close() {
        arena.close();
    }
}
