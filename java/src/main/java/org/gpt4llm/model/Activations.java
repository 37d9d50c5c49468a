package org.gpt4llm.model;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/** Every buffer of a {@link DecoderModel} forward and backward pass, owned by one arena. */
final class Activations implements AutoCloseable {
    final Arena arena = Arena.ofShared();
    final long capacity;
    final int batchCapacity;
    final Tensor tokensAll, targetsAll, positionsAll, segmentsAll;
    final Tensor[] resid;
    final LayerActs[] layers;
    final Tensor normF, rstdF, logits, losses;
    final Tensor dResid, dNorm, dAtt, dQ, dK, dV, dGate, dUp, dHidden;

    /** Saved forward activations of one layer. */
    record LayerActs(Tensor norm1, Tensor rstd1, Tensor q, Tensor k, Tensor v, Tensor att, Tensor lseAll,
                     Tensor mid, Tensor norm2, Tensor rstd2, Tensor gate, Tensor up, Tensor hidden) {
        Tensor lse(AttentionShape s) {
            return lseAll.rows(0, (long) s.batch() * s.heads() * s.seqLen());
        }
    }

    Activations(Backend be, LlamaConfig c, int batch, int seqLen) {
        long n = (long) batch * seqLen;
        capacity = n;
        batchCapacity = batch;
        long h = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
        DType at = be.activationType();
        // activations in the backend's storage type; normalisation statistics, lse and losses in fp32
        java.util.function.Function<long[], Tensor> act = shape -> be.allocate(arena, at, shape);
        java.util.function.Function<long[], Tensor> f32 = shape -> be.allocate(arena, DType.F32, shape);
        tokensAll = be.allocate(arena, DType.I32, n);
        targetsAll = be.allocate(arena, DType.I32, n);
        positionsAll = be.allocate(arena, DType.I32, n);
        segmentsAll = be.allocate(arena, DType.I32, n);
        resid = new Tensor[c.numLayers() + 1];
        for (int i = 0; i <= c.numLayers(); i++) resid[i] = act.apply(new long[] {n, h});
        layers = new LayerActs[c.numLayers()];
        for (int i = 0; i < c.numLayers(); i++) {
            layers[i] = new LayerActs(act.apply(new long[] {n, h}), f32.apply(new long[] {n}),
                    act.apply(new long[] {n, h}), act.apply(new long[] {n, kv}), act.apply(new long[] {n, kv}),
                    act.apply(new long[] {n, h}), f32.apply(new long[] {n * c.numHeads()}),
                    act.apply(new long[] {n, h}), act.apply(new long[] {n, h}), f32.apply(new long[] {n}),
                    act.apply(new long[] {n, f}), act.apply(new long[] {n, f}), act.apply(new long[] {n, f}));
        }
        normF = act.apply(new long[] {n, h});
        rstdF = f32.apply(new long[] {n});
        logits = act.apply(new long[] {n, c.vocabSize()});
        losses = f32.apply(new long[] {n});
        dResid = act.apply(new long[] {n, h});
        dNorm = act.apply(new long[] {n, h});
        dAtt = act.apply(new long[] {n, h});
        dQ = act.apply(new long[] {n, h});
        dK = act.apply(new long[] {n, kv});
        dV = act.apply(new long[] {n, kv});
        dGate = act.apply(new long[] {n, f});
        dUp = act.apply(new long[] {n, f});
        dHidden = act.apply(new long[] {n, f});
    }

    void load(Backend be, TokenBatch b) {
        int n = b.size();
        be.upload(tokens(n), b.tokens());
        be.upload(targets(n), b.targets());
        be.upload(positions(n), b.positions());
        be.upload(segments(n), b.segments());
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

    @Override
    public void close() {
        arena.close();
    }
}
