package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import java.lang.foreign.Arena;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.memory.MemoryLedger;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The low-rank adapter path {@code y += scale * (dropout(x) Aᵀ) Bᵀ} with x BF16 [N, in], A BF16
 * [r, in], B BF16 [out, r], y BF16 [N, out], and its backward: the products as GEMMs of the device
 * (cuBLAS on a GPU: bf16 operands, fp32 accumulation, tensor cores) around the element-wise kernels
 * of kernels/lora.cu, whose header gives the math, the order of the steps and why t and dt enter the
 * GEMMs as three bf16 pieces. {@code scale} is PEFT's scaling, alpha / r.
 */
public final class LoraKernels {
    /** t and dt enter the GEMMs as this many bf16 pieces, whose sum is the fp32 value exactly. */
    static final int PIECES = 3;
    private static final DType[] FORWARD_TYPES = {DType.BF16, DType.BF16, DType.BF16};
    private static final DType[] BACKWARD_TYPES = {DType.BF16, DType.BF16, DType.BF16, DType.F32, DType.F32};

    /** The forward's workspace regions: t and B in pieces, the masked input (with dropout). */
    private static long[][] forwardRegions(long n, long in, long out, long r, float dropout) {
        long r3 = PIECES * r;
        return new long[][] {{n, r3}, {out, r3}, {dropout > 0f ? n : 0, in}};
    }

    /**
     * The backward's workspace regions: t, dt and A in pieces, the partial products, and the masked
     * input, then (once dA has read it) dx's product before the mask: F32 [n, in] (with dropout).
     */
    private static long[][] backwardRegions(long n, long in, long out, long r, float dropout, boolean withDx) {
        long r3 = PIECES * r;
        return new long[][] {{n, r3}, {n, r3}, {withDx ? r3 : 0, in}, {Math.max(out, in) * r3}, {dropout > 0f ? n : 0, in}};
    }

    /** Bytes a {@link Workspace} grows to for the forward and backward of one adapter of this shape (with dx). */
    public static long workspaceBytes(long n, long in, long out, long r, float dropout) {
        return Math.max(Workspace.bytesOf(FORWARD_TYPES, forwardRegions(n, in, out, r, dropout)),
                Workspace.bytesOf(BACKWARD_TYPES, backwardRegions(n, in, out, r, dropout, true)));
    }

    private LoraKernels() {}

    /**
     * Device scratch of the LoRA path, kept from call to call and grown when a call needs more: the
     * pieces of t and dt, the weights repeated per piece, the pieces' partial weight gradients and,
     * with dropout, the masked input (in the backward also dx's product before the mask: N x in fp32,
     * the largest part). Calls in one stream reuse it safely; growing waits for the queued work
     * before freeing the old buffer, so a CUDA graph should be captured only after a call of the
     * largest size. The memory is not zero-filled: every region is written before it is read, which
     * the emulation's sanitizer checks.
     */
    public static final class Workspace implements AutoCloseable {
        /** cudaMalloc's alignment, kept by every region so vectorised kernels see aligned rows. */
        private static final long ALIGNMENT = 256;

        private final Device device;
        private final MemoryLedger ledger;
        private Arena arena;
        private Tensor memory;

        /** A workspace whose buffer {@code ledger} counts as {@link MemoryCategory#WORKSPACE} (null: not counted). */
        public Workspace(Device device, MemoryLedger ledger) {
            this.device = device;
            this.ledger = ledger;
        }

        public Workspace(Device device) {
            this(device, null);
        }

        /** Bytes of the regions of {@code dtypes} and {@code shapes}, each aligned as {@link #regions} aligns it. */
        static long bytesOf(DType[] dtypes, long[]... shapes) {
            long total = 0;
            for (int i = 0; i < shapes.length; i++) total += aligned(Tensor.numel(shapes[i]) * dtypes[i].bytes());
            return total;
        }

        private static long aligned(long bytes) {
            return (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
        }

        /** Bytes held now (the largest call's need so far). */
        public long bytes() {
            return memory == null ? 0 : memory.byteSize();
        }

        /** Views of consecutive aligned regions of the given dtype and shape, valid until the next call. */
        private Tensor[] regions(DType[] dtypes, long[]... shapes) {
            long[] offsets = new long[shapes.length];
            long total = 0;
            for (int i = 0; i < shapes.length; i++) {
                offsets[i] = total;
                total += aligned(Tensor.numel(shapes[i]) * dtypes[i].bytes());
            }
            if (memory == null || memory.byteSize() < total) {
                if (arena != null) {
                    device.synchronize();  // queued kernels may still use the old buffer
                    arena.close();
                }
                arena = Arena.ofShared();
                memory = device.allocateUninitialized(arena, DType.U8, total);
                if (ledger != null) ledger.track(arena, MemoryLedger.Side.DEVICE, MemoryCategory.WORKSPACE, total);
            }
            Tensor[] out = new Tensor[shapes.length];
            for (int i = 0; i < shapes.length; i++) {
                long bytes = Tensor.numel(shapes[i]) * dtypes[i].bytes();
                out[i] = Tensor.wrap(memory.data().asSlice(offsets[i], bytes), dtypes[i], shapes[i]);
            }
            return out;
        }

        @Override
        public void close() {
            if (arena == null) return;
            device.synchronize();
            arena.close();
            arena = null;
            memory = null;
        }
    }

    /** N, in, out, r of one call, from A and B, checked against x and the row-shaped tensors. */
    private record Shape(int n, int in, int out, int r) {
        static Shape of(Tensor x, Tensor a, Tensor b, float dropout) {
            dtype(x, DType.BF16, "lora x");
            dtype(a, DType.BF16, "lora A");
            dtype(b, DType.BF16, "lora B");
            if (a.rank() != 2 || b.rank() != 2) throw new IllegalArgumentException("lora A " + a + " and B " + b + " must be 2-D");
            int r = KernelArgs.toInt(a.dim(0), "lora rank"), in = KernelArgs.toInt(a.dim(1), "lora in features");
            int out = KernelArgs.toInt(b.dim(0), "lora out features");
            if (b.dim(1) != r) throw new IllegalArgumentException("lora B " + b + " does not match A " + a);
            if (r < 1) throw new IllegalArgumentException("lora rank must be at least 1, got A " + a);
            if (in == 0 || x.numel() % in != 0) throw new IllegalArgumentException("lora x " + x + " is not rows of " + in);
            if (!(dropout >= 0f && dropout < 1f)) throw new IllegalArgumentException("lora dropout must be in [0, 1), got " + dropout);
            return new Shape(KernelArgs.toInt(x.numel() / in, "lora rows"), in, out, r);
        }
    }

    /**
     * The seed of a launch's dropout mask: a value, or one derived on the device from the step's seed
     * (I64 [1] in device memory) and the adapter's index ({@link LoraDropout#adapterSeed}), so that a
     * step captured into a CUDA graph replays with each step's masks.
     */
    public record MaskSeed(long value, Tensor stepSeed, int adapter) {
        public static MaskSeed of(long value) {
            return new MaskSeed(value, null, 0);
        }

        public static MaskSeed fromStep(Tensor stepSeed, int adapter) {
            numel(dtype(stepSeed, DType.I64, "lora step seed"), 1, "lora step seed");
            return new MaskSeed(0L, stepSeed, adapter);
        }
    }

    /**
     * {@code y} += scale * (dropout(x) Aᵀ) Bᵀ, saving {@code t} = dropout(x) Aᵀ (F32 [N, r],
     * overwritten) for the backward. The dropout mask is {@link LoraDropout#scale} of {@code seed}.
     */
    public static void forward(Device d, Workspace ws, Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale,
                               float dropout, long seed) {
        forward(d, ws, y, t, x, a, b, scale, dropout, MaskSeed.of(seed));
    }

    /** As above with the mask seed a {@link MaskSeed}. */
    public static void forward(Device d, Workspace ws, Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale,
                               float dropout, MaskSeed seed) {
        Shape s = Shape.of(x, a, b, dropout);
        numel(dtype(y, DType.BF16, "lora y"), (long) s.n * s.out, "lora y");
        numel(dtype(t, DType.F32, "lora t"), (long) s.n * s.r, "lora t");
        checkWorkspace(d, ws);
        if (s.n == 0) return;
        int n = s.n, in = s.in, out = s.out;
        Tensor[] w = ws.regions(FORWARD_TYPES, forwardRegions(n, in, out, s.r, dropout));
        Tensor t3 = w[0], b3 = w[1], t2 = t.view(n, s.r);
        Tensor xk = masked(d, dropout > 0f ? w[2] : null, x.view(n, in), dropout, seed);
        gemm(d, t2, xk, false, a, true, 1f / (1f - dropout), 0f);
        split(d, t3, t2);
        repeat(d, b3, b, 1);
        gemm(d, y.view(n, out), t3, false, b3, true, scale, 1f);
    }

    /**
     * The backward from {@code dy} (BF16 [N, out]) with the forward's {@code t} and the same scale,
     * dropout and seed: {@code dt} (F32 [N, r], a workspace, overwritten) = scale * dy B;
     * {@code dx} (BF16 [N, in]) += mask ⊙ (dt A), skipped when dx is null; {@code dB} (F32 [out, r])
     * += scale * dyᵀ t; {@code dA} (F32 [r, in]) += dtᵀ dropout(x).
     */
    public static void backward(Device d, Workspace ws, Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x,
                                Tensor a, Tensor b, Tensor t, float scale, float dropout, long seed) {
        backward(d, ws, dx, dA, dB, dt, dy, x, a, b, t, scale, dropout, MaskSeed.of(seed));
    }

    /** As above with the mask seed a {@link MaskSeed}. */
    public static void backward(Device d, Workspace ws, Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x,
                                Tensor a, Tensor b, Tensor t, float scale, float dropout, MaskSeed seed) {
        Shape s = Shape.of(x, a, b, dropout);
        if (dx != null) numel(dtype(dx, DType.BF16, "lora dx"), (long) s.n * s.in, "lora dx");
        numel(dtype(dA, DType.F32, "lora dA"), (long) s.r * s.in, "lora dA");
        numel(dtype(dB, DType.F32, "lora dB"), (long) s.out * s.r, "lora dB");
        numel(dtype(dt, DType.F32, "lora dt"), (long) s.n * s.r, "lora dt");
        numel(dtype(dy, DType.BF16, "lora dy"), (long) s.n * s.out, "lora dy");
        numel(dtype(t, DType.F32, "lora t"), (long) s.n * s.r, "lora t");
        checkWorkspace(d, ws);
        if (s.n == 0) return;
        int n = s.n, in = s.in, out = s.out, r3 = PIECES * s.r;
        float keepScale = 1f / (1f - dropout);
        Tensor[] w = ws.regions(BACKWARD_TYPES, backwardRegions(n, in, out, s.r, dropout, dx != null));
        Tensor t3 = w[0], d3 = w[1], a3 = w[2], partials = w[3], scratch = w[4];
        Tensor dy2 = dy.view(n, out), dt2 = dt.view(n, s.r);

        gemm(d, dt2, dy2, false, b, false, scale, 0f);
        split(d, t3, t.view(n, s.r));
        split(d, d3, dt2);
        Tensor pb = view(partials, out, r3);
        gemm(d, pb, dy2, true, t3, false, scale, 0f);
        sumPieces(d, dB, pb, 1);
        Tensor xk = masked(d, dropout > 0f ? bf16View(scratch) : null, x.view(n, in), dropout, seed);
        Tensor pa = view(partials, r3, in);
        gemm(d, pa, d3, true, xk, false, keepScale, 0f);
        sumPieces(d, dA, pa, in);
        if (dx == null) return;
        repeat(d, a3, a, in);
        if (dropout == 0f) {
            gemm(d, dx.view(n, in), d3, false, a3, false, 1f, 1f);
        } else {
            gemm(d, scratch, d3, false, a3, false, 1f, 0f);
            dropout(d, dx.view(n, in), null, scratch, keepScale, dropout, seed);
        }
    }

    private static void checkWorkspace(Device d, Workspace ws) {
        if (ws == null || ws.device != d) throw new IllegalArgumentException("lora needs a Workspace of the device it runs on");
    }

    /** Row-major {@code c = alpha * op(a) op(b) + beta * c} of 2-D tensors, the strides their row lengths. */
    private static void gemm(Device d, Tensor c, Tensor a, boolean ta, Tensor b, boolean tb, float alpha, float beta) {
        int m = (int) c.dim(0), n = (int) c.dim(1), k = (int) (ta ? a.dim(0) : a.dim(1));
        d.gemm(ta, tb, m, n, k, alpha, a, (int) a.dim(1), b, (int) b.dim(1), beta, c, n);
    }

    /** x itself when p = 0, else {@code into} = keep ⊙ x (the dropout's mask without its 1/(1-p), exact in bf16). */
    private static Tensor masked(Device d, Tensor into, Tensor x, float p, MaskSeed seed) {
        if (p == 0f) return x;
        dropout(d, into, x, null, 1f, p, seed);
        return into;
    }

    /**
     * lora_dropout over {@code out} [rows, cols]: {@code out} = keep ⊙ x when g is null, else
     * {@code out} += s * keep ⊙ g, keep being {@link LoraDropout}'s mask of {@code seed}.
     */
    static void dropout(Device d, Tensor out, Tensor x, Tensor g, float s, float p, MaskSeed seed) {
        int rows = KernelArgs.toInt(out.dim(0), "lora rows"), cols = KernelArgs.toInt(out.dim(1), "lora columns");
        long n = (long) rows * cols;
        d.launch("lora_dropout", KernelArgs.elementwiseGrid(n), KernelArgs.elementwiseBlock(), 0, out,
                KernelArgs.orNull(x), KernelArgs.orNull(g), rows, cols, s, p, seed.value(),
                KernelArgs.orNull(seed.stepSeed()), seed.adapter());
    }

    /** lora_split: {@code pieces} (BF16, three per element of v) sum to v (F32) exactly. */
    static void split(Device d, Tensor pieces, Tensor v) {
        numel(pieces, PIECES * v.numel(), "lora pieces of " + v);
        d.launch("lora_split", KernelArgs.elementwiseGrid(v.numel()), KernelArgs.elementwiseBlock(), 0, pieces, v,
                v.numel());
    }

    /**
     * lora_repeat: {@code out} = w seen as blocks of {@code width} elements, each block three times
     * in a row: where the GEMMs against the pieces of t and dt read the weight. B [out, r] with width
     * 1 gives [out, 3r] (every element three times), A [r, in] with width in gives [3r, in] (every
     * row three times).
     */
    static void repeat(Device d, Tensor out, Tensor w, int width) {
        numel(out, PIECES * w.numel(), "lora repeated " + w);
        d.launch("lora_repeat", KernelArgs.elementwiseGrid(w.numel()), KernelArgs.elementwiseBlock(), 0, out, w,
                w.numel() / width, width);
    }

    /**
     * lora_sum: {@code g} += the sum of the three pieces of {@code partials}, laid out as
     * {@link #repeat} lays out a weight of g's shape with the same {@code width}.
     */
    static void sumPieces(Device d, Tensor g, Tensor partials, int width) {
        numel(partials, PIECES * g.numel(), "lora partials of " + g);
        d.launch("lora_sum", KernelArgs.elementwiseGrid(g.numel()), KernelArgs.elementwiseBlock(), 0, g, partials,
                g.numel() / width, width);
    }

    /** The first rows x cols elements of an F32 region, as a matrix. */
    private static Tensor view(Tensor region, long rows, long cols) {
        return Tensor.wrap(region.data().asSlice(0, rows * cols * Float.BYTES), DType.F32, rows, cols);
    }

    /** An F32 [rows, cols] region seen as BF16 [rows, cols] (its first half). */
    private static Tensor bf16View(Tensor f32) {
        return Tensor.wrap(f32.data().asSlice(0, f32.numel() * 2), DType.BF16, f32.shape());
    }
}
