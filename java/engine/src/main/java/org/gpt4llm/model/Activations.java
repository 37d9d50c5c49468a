package org.gpt4llm.model;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Every buffer of a {@link DecoderModel} forward and backward pass, owned by one arena. Buffers only
 * some families use are null in the others: LayerNorm's means, SwiGLU's up projection, the ones
 * column of the bias GEMMs, the ids into a learned position table.
 *
 * <p>A micro-batch's inputs (token ids, targets, positions, segments, position ids) go to an input
 * slot with one upload; each micro-batch of a step has its own slot, so that all of them can be
 * uploaded before a captured step is replayed. The scratch of the attention backward is kept here
 * too, reused by every layer and step.
 *
 * <p>With {@code recompute} every layer shares one set of layer activations: the forward keeps only
 * each layer's input ({@link #resid}), and the backward recomputes a layer into the shared set before
 * its backward runs.
 */
final class Activations implements AutoCloseable {
    /** Ints between the fields of an input slot: each field starts 256-byte aligned, as a device allocation does. */
    private static final int FIELD_ALIGN = 64;

    final Arena arena = Arena.ofShared();
    final long capacity;
    final int batchCapacity;
    /** Whether the layers share one {@link LayerActs} (recomputed in the backward). */
    final boolean recompute;
    /** Bytes of what a forward leaves for the backward: layer inputs, layer activations, final norm. */
    private long savedBytes;
    /** Fields of an input slot: tokens, targets, positions, segments (+ position ids with learned positions). */
    private final int fields;
    private final Backend backend;
    private final java.util.List<Tensor> inputSlots = new java.util.ArrayList<>();
    /** F32 scratch of the attention backward, null when the backend needs none. */
    final Tensor attentionWorkspace;
    final Tensor[] resid;
    final LayerActs[] layers;
    final Tensor normF, meanF, rstdF, logits, losses, ones;
    final Tensor dResid, dNorm, dAtt, dQ, dK, dV, dGate, dUp, dHidden;
    /** F32 [2C]: where the norm kernels put the weight (and bias) gradients of a frozen norm, never read. */
    final Tensor discardedNormGrads;

    /** Saved forward activations of one layer; gate holds the first MLP projection (SwiGLU's gate, OPT's fc1). */
    record LayerActs(Tensor norm1, Tensor mean1, Tensor rstd1, Tensor q, Tensor k, Tensor v, Tensor att, Tensor lseAll,
                     Tensor mid, Tensor norm2, Tensor mean2, Tensor rstd2, Tensor gate, Tensor up, Tensor hidden) {
        Tensor lse(AttentionShape s) {
            return lseAll.rows(0, (long) s.batch() * s.heads() * s.seqLen());
        }
    }

    /** {@code withLogits}: whether the model has an LM head (a reward model's backbone does not). */
    Activations(Backend be, ModelConfig c, int batch, int seqLen, boolean withLogits, boolean recompute) {
        long n = (long) batch * seqLen;
        capacity = n;
        batchCapacity = batch;
        this.recompute = recompute;
        long h = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
        DType at = be.activationType();
        // activations in the backend's storage type; normalisation statistics, lse and losses in fp32
        // saved for the backward (counted as allocated): activations; the backward's own buffers and scratch: workspace
        java.util.function.Function<long[], Tensor> work = shape -> be.allocate(arena, MemoryCategory.WORKSPACE, at, shape);
        java.util.function.Function<long[], Tensor> saved = shape -> {
            savedBytes += Tensor.numel(shape) * at.bytes();
            return be.allocate(arena, MemoryCategory.ACTIVATIONS, at, shape);
        };
        java.util.function.Function<long[], Tensor> savedF32 = shape -> {
            savedBytes += Tensor.numel(shape) * DType.F32.bytes();
            return be.allocate(arena, MemoryCategory.ACTIVATIONS, DType.F32, shape);
        };
        java.util.function.Supplier<Tensor> mean = () -> c.layerNorm() ? savedF32.apply(new long[] {n}) : null;
        backend = be;
        fields = c.learnedPositions() ? 5 : 4;
        long workspace = be.attentionWorkspaceElements(new AttentionShape(batch, seqLen, c.numHeads(), c.numKvHeads(),
                c.headDim(), 1f));
        attentionWorkspace = workspace > 0 ? be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, workspace) : null;
        resid = new Tensor[c.numLayers() + 1];
        for (int i = 0; i <= c.numLayers(); i++) resid[i] = saved.apply(new long[] {n, h});
        layers = new LayerActs[c.numLayers()];
        for (int i = 0; i < c.numLayers(); i++) {
            if (recompute && i > 0) {
                layers[i] = layers[0];
                continue;
            }
            layers[i] = new LayerActs(saved.apply(new long[] {n, h}), mean.get(), savedF32.apply(new long[] {n}),
                    saved.apply(new long[] {n, h}), saved.apply(new long[] {n, kv}), saved.apply(new long[] {n, kv}),
                    saved.apply(new long[] {n, h}), savedF32.apply(new long[] {n * c.numHeads()}),
                    saved.apply(new long[] {n, h}), saved.apply(new long[] {n, h}), mean.get(),
                    savedF32.apply(new long[] {n}), saved.apply(new long[] {n, f}),
                    c.gatedMlp() ? saved.apply(new long[] {n, f}) : null, saved.apply(new long[] {n, f}));
        }
        normF = saved.apply(new long[] {n, h});
        meanF = mean.get();
        rstdF = savedF32.apply(new long[] {n});
        logits = withLogits ? be.allocate(arena, MemoryCategory.LOGITS, at, n, c.vocabSize()) : null;
        losses = withLogits ? be.allocate(arena, MemoryCategory.LOGITS, DType.F32, n) : null;
        if (c.linearBias()) {
            ones = work.apply(new long[] {n, 1});
            try (Arena host = Arena.ofConfined()) {
                float[] one = new float[(int) n];
                java.util.Arrays.fill(one, 1f);
                be.upload(ones, Tensor.of(host, one, n, 1));
            }
        } else {
            ones = null;
        }
        dResid = work.apply(new long[] {n, h});
        dNorm = work.apply(new long[] {n, h});
        dAtt = work.apply(new long[] {n, h});
        dQ = work.apply(new long[] {n, h});
        dK = work.apply(new long[] {n, kv});
        dV = work.apply(new long[] {n, kv});
        dGate = work.apply(new long[] {n, f});
        dUp = c.gatedMlp() ? work.apply(new long[] {n, f}) : null;
        dHidden = work.apply(new long[] {n, f});
        discardedNormGrads = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, 2 * h);
    }


    /**
     * Bytes of the activations a forward saves for the backward (every layer's, or with
     * {@code recompute} the layer inputs and one layer's), at this capacity; not the logits, the
     * inputs or the backward's scratch.
     */
    long savedBytes() {
        return savedBytes;
    }

    /**
     * The inputs of one micro-batch of n tokens in a slot: I32 [n] each; {@code positionIds} are the
     * rows of a learned position table each token reads (null without one).
     */
    record Inputs(int n, Tensor tokens, Tensor targets, Tensor positions, Tensor segments, Tensor positionIds) {}

    /** Uploads {@code b} into input slot {@code slot} (allocated the first time it is used) with one copy. */
    Inputs load(TokenBatch b, int slot) {
        return load(b, slot, null);
    }

    /**
     * As above, with {@code rowValues} (a float per row of {@code b}, or null) in the same copy, after the
     * inputs: what a loss needs per sequence (DPO's reference log-probabilities), read by {@link #rowValues}.
     */
    Inputs load(TokenBatch b, int slot, float[] rowValues) {
        int n = b.size(), stride = stride(n);
        if (rowValues != null && rowValues.length != b.batch()) {
            throw new IllegalArgumentException(rowValues.length + " row values for a batch of " + b.batch() + " rows");
        }
        int[] packed = new int[fields * stride + (rowValues == null ? 0 : rowValues.length)];
        for (int i = 0; rowValues != null && i < rowValues.length; i++) packed[fields * stride + i] = Float.floatToRawIntBits(rowValues[i]);
        System.arraycopy(b.tokens(), 0, packed, 0, n);
        System.arraycopy(b.targets(), 0, packed, stride, n);
        System.arraycopy(b.positions(), 0, packed, 2 * stride, n);
        System.arraycopy(b.segments(), 0, packed, 3 * stride, n);
        if (fields == 5) {
            // OPT's table is offset: position p reads row p + 2
            for (int i = 0; i < n; i++) packed[4 * stride + i] = b.positions()[i] + OptConfig.POSITION_OFFSET;
        }
        backend.upload(slot(slot).rows(0, packed.length), packed);
        return inputs(slot, n);
    }

    /** The views of slot {@code slot} holding a micro-batch of n tokens (as {@link #load} left them). */
    Inputs inputs(int slot, int n) {
        Tensor all = slot(slot);
        long stride = stride(n);
        return new Inputs(n, all.rows(0, n), all.rows(stride, n), all.rows(2 * stride, n), all.rows(3 * stride, n),
                fields == 5 ? all.rows(4 * stride, n) : null);
    }

    /** The {@code count} row values {@link #load} put in slot {@code slot} with a micro-batch of n tokens, F32 [count]. */
    Tensor rowValues(int slot, int n, int count) {
        long at = 4L * fields * stride(n);
        return Tensor.wrap(slot(slot).data().asSlice(at, 4L * count), DType.F32, count);
    }

    private Tensor slot(int slot) {
        if (slot < 0 || slot > inputSlots.size()) {
            throw new IllegalArgumentException("input slot " + slot + " of " + inputSlots.size() + ": slots are used in order from 0");
        }
        if (slot == inputSlots.size()) inputSlots.add(backend.allocate(arena, DType.I32, fields * (long) stride((int) capacity) + batchCapacity));
        return inputSlots.get(slot);
    }

    private static int stride(int n) {
        return (n + FIELD_ALIGN - 1) / FIELD_ALIGN * FIELD_ALIGN;
    }

    @Override
    public void close() {
        arena.close();
    }
}
