package org.gpt4llm.model;

import java.lang.foreign.Arena;
import java.util.Arrays;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.DecodeShape;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * A {@link DecodeSession} of a {@link DecoderModel}: per-layer K and V caches [maxBatch, maxLength,
 * kvDim] in the backend's activation type, and the forward of the new tokens only
 * ({@link DecoderModel#decodeForward}). The prefill runs all prompts as one batch of Tq = the longest
 * prompt's length, each prompt left-padded within it: a padding token sits at a position below 0,
 * which {@link Backend#kvCacheWrite} skips and {@link Backend#attentionDecode} gives no keys, so it
 * never enters a cache and the real tokens compute exactly what they would alone. A step is Tq = 1.
 *
 * <p>The session runs the model in evaluation mode (no LoRA dropout) and shares the model's LoRA
 * work buffers: one session or training forward at a time, on one thread.
 */
public final class KvCacheSession implements DecodeSession {
    private final DecoderModel model;
    private final ModelConfig cfg;
    private final Backend backend;
    private final int maxBatch, maxLength;
    private final Arena cacheArena = Arena.ofShared();
    /** Per layer: the caches, [maxBatch * maxLength, kvDim]. */
    final Tensor[] kCache, vCache;
    /** Host copy of every row's length (tokens in the cache); {@code rows} = 0 before the prefill. */
    private final int[] lengths;
    private int rows;
    private Work work;
    private boolean closed;

    /**
     * Work buffers of one forward over up to {@code capacity} token rows (the activation type unless
     * said): x the residual stream, n the norm's output, mean / rstd its F32 statistics, q k v att,
     * gate up hidden the MLP, last / lastNorm the last token of each row, logits [maxBatch, V].
     */
    static final class Work implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final long capacity;
        final Tensor tokens, positions, positionIds, lengths; // I32
        final Tensor x, n, mean, rstd, q, k, v, att, gate, up, hidden, ones, last, lastNorm, logits;

        Work(Backend be, ModelConfig c, long capacity, int maxBatch) {
            this.capacity = capacity;
            long h = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
            DType at = be.activationType();
            tokens = be.allocate(arena, DType.I32, capacity);
            positions = be.allocate(arena, DType.I32, capacity);
            positionIds = c.learnedPositions() ? be.allocate(arena, DType.I32, capacity) : null;
            lengths = be.allocate(arena, DType.I32, maxBatch);
            x = be.allocate(arena, at, capacity, h);
            n = be.allocate(arena, at, capacity, h);
            mean = c.layerNorm() ? be.allocate(arena, DType.F32, capacity) : null;
            rstd = be.allocate(arena, DType.F32, capacity);
            q = be.allocate(arena, at, capacity, h);
            k = be.allocate(arena, at, capacity, kv);
            v = be.allocate(arena, at, capacity, kv);
            att = be.allocate(arena, at, capacity, h);
            gate = be.allocate(arena, at, capacity, f);
            up = c.gatedMlp() ? be.allocate(arena, at, capacity, f) : null;
            hidden = be.allocate(arena, at, capacity, f);
            last = be.allocate(arena, at, maxBatch, h);
            lastNorm = be.allocate(arena, at, maxBatch, h);
            logits = be.allocate(arena, MemoryCategory.LOGITS, at, maxBatch, c.vocabSize());
            if (c.linearBias()) {
                ones = be.allocate(arena, at, capacity, 1);
                try (Arena host = Arena.ofConfined()) {
                    float[] one = new float[(int) capacity];
                    Arrays.fill(one, 1f);
                    be.upload(ones, Tensor.of(host, one, capacity, 1));
                }
            } else {
                ones = null;
            }
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    KvCacheSession(DecoderModel model, int maxBatch, int maxLength) {
        if (maxBatch < 1 || maxLength < 1) {
            throw new IllegalArgumentException("a decode session needs maxBatch and maxLength of at least 1, got "
                    + maxBatch + " and " + maxLength);
        }
        if (maxLength > model.config().maxPositionEmbeddings()) {
            throw new IllegalArgumentException("maxLength " + maxLength + " is beyond max_position_embeddings "
                    + model.config().maxPositionEmbeddings() + " of this " + model.config().modelType() + " model");
        }
        this.model = model;
        this.cfg = model.config();
        this.backend = model.backend();
        this.maxBatch = maxBatch;
        this.maxLength = maxLength;
        this.lengths = new int[maxBatch];
        kCache = new Tensor[cfg.numLayers()];
        vCache = new Tensor[cfg.numLayers()];
        long cacheRows = (long) maxBatch * maxLength;
        for (int l = 0; l < cfg.numLayers(); l++) {
            kCache[l] = backend.allocate(cacheArena, MemoryCategory.ACTIVATIONS, backend.activationType(), cacheRows, cfg.kvDim());
            vCache[l] = backend.allocate(cacheArena, MemoryCategory.ACTIVATIONS, backend.activationType(), cacheRows, cfg.kvDim());
        }
    }

    @Override
    public float[][] prefill(int[][] prompts) {
        checkOpen();
        if (prompts == null || prompts.length == 0 || prompts.length > maxBatch) {
            throw new IllegalArgumentException("prefill needs 1 to " + maxBatch + " prompts (this session's maxBatch), got "
                    + (prompts == null ? 0 : prompts.length));
        }
        int batch = prompts.length, tq = 0;
        for (int r = 0; r < batch; r++) {
            int len = prompts[r] == null ? 0 : prompts[r].length;
            if (len == 0) throw new IllegalArgumentException("prompt " + r + " is empty: a prompt needs at least one token");
            if (len > maxLength) {
                throw new IllegalArgumentException("prompt " + r + " has " + len + " tokens, more than this session's maxLength "
                        + maxLength);
            }
            checkTokens(prompts[r], "prompt " + r);
            tq = Math.max(tq, len);
        }
        // each prompt right-aligned in the Tq window: token t of row r is at position len_r - Tq + t
        int[] tokens = new int[batch * tq];
        int[] positions = new int[batch * tq];
        for (int r = 0; r < batch; r++) {
            int len = prompts[r].length, pad = tq - len;
            System.arraycopy(prompts[r], 0, tokens, r * tq + pad, len);
            for (int t = pad; t < tq; t++) positions[r * tq + t] = t - pad;
            lengths[r] = len;
        }
        Arrays.fill(lengths, batch, maxBatch, 0);
        rows = batch;
        return forward(tokens, positions, tq, "prefill");
    }

    @Override
    public float[][] step(int[] tokens) {
        checkOpen();
        if (rows == 0) throw new IllegalStateException("step() before prefill(): the session has no prompts yet");
        if (tokens == null || tokens.length != rows) {
            throw new IllegalArgumentException("step needs one token per row (" + rows + "), got "
                    + (tokens == null ? 0 : tokens.length));
        }
        checkTokens(tokens, "step");
        for (int r = 0; r < rows; r++) {
            if (lengths[r] >= maxLength) {
                throw new IllegalStateException("row " + r + " already holds " + lengths[r]
                        + " tokens, this session's maxLength: it cannot take another");
            }
        }
        int[] positions = new int[rows];
        for (int r = 0; r < rows; r++) positions[r] = lengths[r]++;
        return forward(tokens.clone(), positions, 1, "decode");
    }

    /** {@code range}: the NVTX range of the pass, prefill or decode. */
    private float[][] forward(int[] tokens, int[] positions, int tq, String range) {
        long n = (long) rows * tq;
        if (work == null || work.capacity < n) {
            if (work != null) work.close();
            work = new Work(backend, cfg, Math.max(n, maxBatch), maxBatch);
        }
        Work w = work;
        int nn = (int) n;
        backend.upload(w.tokens.rows(0, n), tokens);
        backend.upload(w.positions.rows(0, n), positions);
        if (w.positionIds != null) {
            int[] ids = new int[nn];
            for (int i = 0; i < nn; i++) ids[i] = positions[i] + OptConfig.POSITION_OFFSET;
            backend.upload(w.positionIds.rows(0, n), ids);
        }
        backend.upload(w.lengths.rows(0, rows), Arrays.copyOf(lengths, rows));
        DecodeShape shape = new DecodeShape(rows, tq, maxLength, cfg.numHeads(), cfg.numKvHeads(), cfg.headDim(),
                (float) (1.0 / Math.sqrt(cfg.headDim())));
        model.decodeForward(this, w, shape, range);
        float[] flat = backend.download(w.logits.rows(0, rows));
        if (rows == 1) return new float[][] {flat}; // a batch-1 step: no second copy of V floats
        int vocab = cfg.vocabSize();
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) out[r] = Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
        return out;
    }

    /** Token ids index the embedding table: one outside it would read out of bounds. */
    private void checkTokens(int[] tokens, String what) {
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= cfg.vocabSize()) {
                throw new IllegalArgumentException(what + ": token " + tokens[i] + " at index " + i
                        + " is outside the vocabulary (size " + cfg.vocabSize() + ")");
            }
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this decode session is closed");
    }

    @Override
    public int length(int row) {
        if (row < 0 || row >= rows) throw new IndexOutOfBoundsException("row " + row + " of " + rows + " rows");
        return lengths[row];
    }

    /** Rows of the last prefill (0 before it). */
    public int rows() {
        return rows;
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
        return cfg.vocabSize();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (work != null) work.close();
        work = null;
        cacheArena.close();
    }
}
