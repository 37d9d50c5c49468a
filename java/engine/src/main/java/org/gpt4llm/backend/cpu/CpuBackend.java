package org.gpt4llm.backend.cpu;

import java.lang.foreign.Arena;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.memory.MemoryLedger;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * fp32 on the host: GEMM through OpenBLAS, the few-row GEMMs of decoding and everything else through
 * our kernels in {@code native/} (both via Panama). This is the backend of every machine without a GPU.
 * Its matrices may be kept in half precision (BF16 or F16, {@link #CpuBackend(int, DType)}) for
 * inference and as a frozen base: decode rows read them in {@link CpuKernels#gemv}, larger GEMMs widen
 * them panel by panel ({@link HalfWeightGemm}); vectors and weights that train stay fp32.
 */
public final class CpuBackend implements Backend {
    private final int threads;
    private final DType weightType;
    private final MemoryLedger memory;
    private final HalfWeightGemm halfGemm;

    /** Uses {@code threads} threads for OpenBLAS and for our OpenMP kernels alike; fp32 weights. */
    public CpuBackend(int threads) {
        this(threads, DType.F32);
    }

    /** As above, keeping the model's matrices in {@code weightType}: F32, BF16 or F16. */
    public CpuBackend(int threads, DType weightType) {
        this(threads, weightType, new MemoryLedger());
        CpuKernels.setNumThreads(threads);
    }

    private CpuBackend(int threads, DType weightType, MemoryLedger memory) {
        if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
        if (weightType != DType.F32 && weightType != DType.BF16 && weightType != DType.F16) {
            throw new IllegalArgumentException("the cpu backend keeps weights in f32, bf16 or f16, not " + weightType);
        }
        this.threads = threads;
        this.weightType = weightType;
        this.memory = memory;
        this.halfGemm = new HalfWeightGemm(memory);
    }

    /**
     * This backend keeping the matrices of the models made on it in {@code weightType}: the same threads,
     * counted in the same {@link #memory()} (models of both types can live side by side).
     */
    public CpuBackend withWeightType(DType weightType) {
        return weightType == this.weightType ? this : new CpuBackend(threads, weightType, memory);
    }

    /** One thread per available processor. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public DType weightType() {
        return weightType;
    }

    /** Matrices in {@link #weightType}; vectors (norm weights, biases) in fp32, which the kernels read. */
    @Override
    public DType parameterType(long... shape) {
        return shape.length >= 2 ? weightType : DType.F32;
    }

    /** fp32: half-precision weights here only run frozen. */
    @Override
    public DType trainedWeightType() {
        return DType.F32;
    }

    @Override
    public Tensor allocate(Arena arena, MemoryCategory category, DType dtype, long... shape) {
        Tensor t = Tensor.allocate(arena, dtype, shape);
        memory.track(arena, MemoryLedger.Side.DEVICE, category, t.byteSize());
        return t;
    }

    @Override
    public MemoryLedger memory() {
        return memory;
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        dst.copyFrom(src);
    }

    @Override
    public void zero(Tensor t) {
        t.zero();
    }

    @Override
    public void upload(Tensor dst, int[] values) {
        if (dst.numel() != values.length) throw new IllegalArgumentException("upload of " + values.length + " ints into " + dst);
        MemorySegment.copy(values, 0, i32(dst, "dst"), ValueLayout.JAVA_INT, 0, values.length);
    }

    @Override
    public void upload(Tensor dst, Tensor host) {
        convert(dst, host);
    }

    @Override
    public long uploadFinite(Tensor dst, Tensor host) {
        return convertFinite(dst, host);
    }

    /** Host-memory {@link #convertOnHost}, finding the first non-finite value of {@code src} in the same pass. */
    public static long convertFinite(Tensor dst, Tensor src) {
        sameSize(dst, src, "convert");
        return CpuKernels.convertFinite(dst.data(), dst.dtype(), src.data(), src.dtype(), src.numel());
    }

    @Override
    public float[] download(Tensor src) {
        return src.toFloatArray();
    }

    @Override
    public Tensor toHost(Tensor src, Arena arena) {
        Tensor t = Tensor.allocate(arena, src.dtype(), src.shape());
        t.copyFrom(src);
        return t;
    }

    @Override
    public void convert(Tensor dst, Tensor src) {
        convertOnHost(dst, src);
    }

    /** Host-memory dtype conversion (F32 to and from BF16/F16), also used to stage device uploads. */
    public static void convertOnHost(Tensor dst, Tensor src) {
        sameSize(dst, src, "convert");
        if (dst.dtype() == src.dtype()) {
            dst.copyFrom(src);
        } else if (dst.dtype() == DType.F32 && src.dtype() == DType.BF16) {
            CpuKernels.bf16ToF32(dst.data(), src.data(), src.numel());
        } else if (dst.dtype() == DType.F32 && src.dtype() == DType.F16) {
            CpuKernels.f16ToF32(dst.data(), src.data(), src.numel());
        } else if (dst.dtype() == DType.BF16 && src.dtype() == DType.F32) {
            CpuKernels.f32ToBf16(dst.data(), src.data(), src.numel());
        } else if (dst.dtype() == DType.F16 && src.dtype() == DType.F32) {
            CpuKernels.f32ToF16(dst.data(), src.data(), src.numel());
        } else {
            throw new IllegalArgumentException("no conversion from " + src.dtype() + " to " + dst.dtype());
        }
    }

    private static MemorySegment f32(Tensor t, String what) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(what + " must be F32, got " + t);
        return t.data();
    }

    private static MemorySegment i32(Tensor t, String what) {
        if (t.dtype() != DType.I32) throw new IllegalArgumentException(what + " must be I32, got " + t);
        return t.data();
    }

    private static void sameSize(Tensor a, Tensor b, String what) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException(what + ": sizes differ, " + a + " vs " + b);
        }
    }

    private static int toInt(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(what + " too large for a kernel: " + v);
        return (int) v;
    }

    @Override
    public void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, float alpha, float beta) {
        if (a.rank() != 2 || b.rank() != 2 || c.rank() != 2) {
            throw new IllegalArgumentException("matmul takes 2-D tensors, got " + a + ", " + b + ", " + c);
        }
        int m = toInt(transA ? a.dim(1) : a.dim(0), "m"), k = toInt(transA ? a.dim(0) : a.dim(1), "k");
        int kb = toInt(transB ? b.dim(1) : b.dim(0), "k"), n = toInt(transB ? b.dim(0) : b.dim(1), "n");
        if (k != kb || c.dim(0) != m || c.dim(1) != n) {
            throw new IllegalArgumentException("matmul shapes do not agree: " + c + " = " + a + (transA ? "ᵀ" : "")
                    + " · " + b + (transB ? "ᵀ" : ""));
        }
        if (!transA && transB && m <= GEMV_MAX_ROWS) {
            // y = x Wᵀ for a few rows (a decode step): bound by reading W, which our GEMV reads once
            // for all rows on the kernel library's own threads, widening half-precision W in registers
            CpuKernels.gemv(f32(c, "C"), n, f32(a, "A"), a.dim(1), b.data(), b.dtype(), b.dim(1), m, n, k, alpha, beta);
            return;
        }
        if (b.dtype() == DType.BF16 || b.dtype() == DType.F16) {
            halfGemm.run(f32(c, "C"), f32(a, "A"), transA, toInt(a.dim(1), "lda"), b.data(), b.dtype(), transB, m, n, k,
                    alpha, beta, this::sgemm);
            return;
        }
        sgemm(transA, transB, m, n, k, alpha, f32(a, "A"), toInt(a.dim(1), "lda"), f32(b, "B"), toInt(b.dim(1), "ldb"),
                beta, f32(c, "C"), n);
    }

    /**
     * A decode step's projections of one input (up to {@link CpuKernels#GEMV_SHARED_MAX} weights of one
     * dtype, up to {@link #GEMV_MAX_ROWS} rows) in one GEMV call: one run of the worker threads instead
     * of one per weight. Anything else as one {@link #matmul} each.
     */
    @Override
    public void matmulSharedInput(Tensor[] ys, Tensor x, Tensor[] ws) {
        if (!sharedGemv(ys, x, ws)) Backend.super.matmulSharedInput(ys, x, ws);
    }

    private boolean sharedGemv(Tensor[] ys, Tensor x, Tensor[] ws) {
        int count = ws.length;
        if (ys.length != count || count < 2 || count > CpuKernels.GEMV_SHARED_MAX || x.rank() != 2
                || x.dim(0) > GEMV_MAX_ROWS) {
            return false;  // the default checks what a matmul each needs, and says what is wrong
        }
        DType wType = ws[0].dtype();
        long m = x.dim(0), k = x.dim(1);
        MemorySegment[] c = new MemorySegment[count], w = new MemorySegment[count];
        int[] n = new int[count];
        for (int i = 0; i < count; i++) {
            Tensor y = ys[i], wi = ws[i];
            if (wi.rank() != 2 || wi.dtype() != wType || wi.dim(1) != k || y.rank() != 2 || y.dim(0) != m
                    || y.dim(1) != wi.dim(0)) {
                return false;
            }
            c[i] = f32(y, "C");
            w[i] = wi.data();
            n[i] = toInt(wi.dim(0), "n");
        }
        CpuKernels.gemvShared(c, f32(x, "A"), k, w, wType, n, (int) m, toInt(k, "k"));
        return true;
    }

    private void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, int lda,
                       MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        // OpenBLAS spreads every GEMM above ~262K multiply-adds over its threads; for the skinny ones
        // waking them costs more than the work, so those run on this thread alone
        OpenBlas.sgemm(blasThreads(m, n, k, threads), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /** GEMMs below this many multiply-adds (~0.2 ms on one core) run single-threaded. */
    private static final long SINGLE_THREAD_GEMM = 4_000_000;

    /** The OpenBLAS threads this backend gives an m×n×k GEMM when it has {@code threads}. */
    public static int blasThreads(long m, long n, long k, int threads) {
        return m * n * k < SINGLE_THREAD_GEMM ? 1 : threads;
    }

    /**
     * Up to this many rows, {@code x Wᵀ} goes to {@link CpuKernels#gemv}: a decode batch. Its time is
     * reading W while the rows are few; beyond about 8 a blocked GEMM reuses W better.
     */
    static final int GEMV_MAX_ROWS = 8;

    @Override
    public void embeddingForward(Tensor out, Tensor tokens, Tensor table) {
        int n = toInt(tokens.numel(), "tokens"), c = toInt(table.dim(1), "C");
        if (out.numel() != (long) n * c) throw new IllegalArgumentException("embedding output " + out + " for " + n + " tokens");
        checkTokens(tokens, table.dim(0));
        if (table.dtype() == DType.F32) {
            CpuKernels.embeddingFwd(f32(out, "out"), i32(tokens, "tokens"), table.data(), n, c);
            return;
        }
        // a half-precision table: each token's row widened on its own (a gather, bound by the rows it reads)
        MemorySegment o = f32(out, "out"), t = table.data();
        long half = table.dtype().bytes(), rowBytes = c * half;
        int[] ids = tokens.toIntArray();
        for (int i = 0; i < n; i++) {
            HalfWeightGemm.widen(o.asSlice((long) i * c * Float.BYTES), t.asSlice(ids[i] * rowBytes, rowBytes),
                    table.dtype(), c);
        }
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor tokens, Tensor dout) {
        int n = toInt(tokens.numel(), "tokens"), c = toInt(dtable.dim(1), "C");
        if (dout.numel() != (long) n * c) throw new IllegalArgumentException("embedding grad " + dout + " for " + n + " tokens");
        checkTokens(tokens, dtable.dim(0));
        CpuKernels.embeddingBwd(f32(dtable, "dtable"), i32(tokens, "tokens"), f32(dout, "dout"), n, c);
    }

    /** A token id outside the vocabulary would read past the table: reject it here, with its place. */
    private static void checkTokens(Tensor tokens, long vocab) {
        i32(tokens, "tokens");
        int[] ids = tokens.toIntArray();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary of " + vocab);
            }
        }
    }

    @Override
    public void rmsnormForward(Tensor y, Tensor rstd, Tensor x, Tensor weight, float eps) {
        int c = toInt(weight.numel(), "C"), n = toInt(x.numel() / c, "N");
        sameSize(y, x, "rmsnorm");
        if (rstd.numel() != n) throw new IllegalArgumentException("rmsnorm rstd " + rstd + " for " + n + " rows");
        CpuKernels.rmsnormFwd(f32(y, "y"), f32(rstd, "rstd"), f32(x, "x"), f32(weight, "weight"), n, c, eps);
    }

    @Override
    public void rmsnormBackward(Tensor dx, Tensor dweight, Tensor dy, Tensor x, Tensor weight, Tensor rstd) {
        int c = toInt(weight.numel(), "C"), n = toInt(x.numel() / c, "N");
        sameSize(dx, x, "rmsnorm dx");
        sameSize(dy, x, "rmsnorm dy");
        sameSize(dweight, weight, "rmsnorm dweight");
        CpuKernels.rmsnormBwd(f32(dx, "dx"), f32(dweight, "dweight"), f32(dy, "dy"), f32(x, "x"),
                f32(weight, "weight"), f32(rstd, "rstd"), n, c);
    }

    @Override
    public void ropeForward(Tensor x, Tensor positions, int heads, int headDim, float theta) {
        int n = ropeRows(x, positions, heads, headDim);
        CpuKernels.ropeFwd(f32(x, "x"), i32(positions, "positions"), n, heads, headDim, theta);
    }

    @Override
    public void ropeBackward(Tensor dx, Tensor positions, int heads, int headDim, float theta) {
        int n = ropeRows(dx, positions, heads, headDim);
        CpuKernels.ropeBwd(f32(dx, "dx"), i32(positions, "positions"), n, heads, headDim, theta);
    }

    private static int ropeRows(Tensor x, Tensor positions, int heads, int headDim) {
        if (headDim % 2 != 0) throw new IllegalArgumentException("rotary head dimension must be even, got " + headDim);
        if (x.numel() != positions.numel() * heads * headDim) {
            throw new IllegalArgumentException("rope: " + x + " is not " + positions.numel() + " rows of "
                    + heads + "x" + headDim);
        }
        return toInt(positions.numel(), "N");
    }

    private static void checkAttention(Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s) {
        long bt = (long) s.batch() * s.seqLen();
        if (q.numel() != bt * s.heads() * s.headDim() || k.numel() != bt * s.kvHeads() * s.headDim()
                || v.numel() != k.numel()) {
            throw new IllegalArgumentException("attention tensors " + q + ", " + k + ", " + v + " do not match " + s);
        }
        if (segments != null && segments.numel() != bt) {
            throw new IllegalArgumentException("attention segments " + segments + " do not match " + s);
        }
    }

    private static MemorySegment segOrNull(Tensor segments) {
        return segments == null ? MemorySegment.NULL : i32(segments, "segments");
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments,
                                 AttentionShape s) {
        checkAttention(q, k, v, segments, s);
        sameSize(out, q, "attention out");
        if (lse.numel() != (long) s.batch() * s.heads() * s.seqLen()) {
            throw new IllegalArgumentException("attention lse " + lse + " does not match " + s);
        }
        CpuKernels.attentionFwd(f32(out, "out"), f32(lse, "lse"), f32(q, "q"), f32(k, "k"), f32(v, "v"),
                segOrNull(segments), s.batch(), s.seqLen(), s.heads(), s.kvHeads(), s.headDim(), s.scale());
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                  Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s) {
        checkAttention(q, k, v, segments, s);
        sameSize(dq, q, "attention dq");
        sameSize(dk, k, "attention dk");
        sameSize(dv, v, "attention dv");
        sameSize(dout, q, "attention dout");
        CpuKernels.attentionBwd(f32(dq, "dq"), f32(dk, "dk"), f32(dv, "dv"), f32(dout, "dout"), f32(out, "out"),
                f32(lse, "lse"), f32(q, "q"), f32(k, "k"), f32(v, "v"), segOrNull(segments),
                s.batch(), s.seqLen(), s.heads(), s.kvHeads(), s.headDim(), s.scale());
    }

    @Override
    public void kvCacheWrite(Tensor cache, Tensor src, Tensor lengths, DecodeShape s) {
        checkDecode(cache, "cache", s.maxLength(), s.kvWidth(), lengths, s);
        checkDecode(src, "new rows", s.newTokens(), s.kvWidth(), lengths, s);
        CpuKernels.kvCacheWrite(f32(cache, "cache"), f32(src, "src"), i32(lengths, "lengths"), s.batch(), s.newTokens(),
                s.maxLength(), toInt(s.kvWidth(), "W"));
    }

    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kCache, Tensor vCache, Tensor lengths, DecodeShape s) {
        long qWidth = (long) s.heads() * s.headDim();
        checkDecode(q, "q", s.newTokens(), qWidth, lengths, s);
        checkDecode(out, "out", s.newTokens(), qWidth, lengths, s);
        checkDecode(kCache, "k cache", s.maxLength(), s.kvWidth(), lengths, s);
        checkDecode(vCache, "v cache", s.maxLength(), s.kvWidth(), lengths, s);
        CpuKernels.attentionDecode(f32(out, "out"), f32(q, "q"), f32(kCache, "k cache"), f32(vCache, "v cache"),
                i32(lengths, "lengths"), s.batch(), s.newTokens(), s.maxLength(), s.heads(), s.kvHeads(), s.headDim(),
                s.scale());
    }

    /** A decoding tensor must hold batch x rows x width elements; lengths one per batch row. */
    private static void checkDecode(Tensor t, String what, long rows, long width, Tensor lengths, DecodeShape s) {
        if (t.numel() != s.batch() * rows * width) {
            throw new IllegalArgumentException("decode " + what + " " + t + " is not " + s.batch() + " x " + rows + " x "
                    + width + " for " + s);
        }
        if (lengths.numel() != s.batch()) {
            throw new IllegalArgumentException("decode lengths " + lengths + " do not have one entry per row of " + s);
        }
    }

    @Override
    public void swigluForward(Tensor h, Tensor gate, Tensor up) {
        sameSize(h, gate, "swiglu");
        sameSize(h, up, "swiglu");
        CpuKernels.swigluFwd(f32(h, "h"), f32(gate, "gate"), f32(up, "up"), h.numel());
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dh, Tensor gate, Tensor up) {
        sameSize(dh, gate, "swiglu");
        sameSize(dh, up, "swiglu");
        sameSize(dh, dgate, "swiglu");
        sameSize(dh, dup, "swiglu");
        CpuKernels.swigluBwd(f32(dgate, "dgate"), f32(dup, "dup"), f32(dh, "dh"), f32(gate, "gate"), f32(up, "up"),
                dh.numel());
    }

    @Override
    public void layernormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
        int c = toInt(weight.numel(), "C"), n = layernormRows(x, weight, bias, mean, rstd);
        sameSize(y, x, "layernorm");
        CpuKernels.layernormFwd(f32(y, "y"), f32(mean, "mean"), f32(rstd, "rstd"), f32(x, "x"), f32(weight, "weight"),
                f32(bias, "bias"), n, c, eps);
    }

    @Override
    public void layernormBackward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dy, Tensor x, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        int c = toInt(weight.numel(), "C"), n = layernormRows(x, dweight, dbias, mean, rstd);
        sameSize(dx, x, "layernorm dx");
        sameSize(dy, x, "layernorm dy");
        sameSize(dweight, weight, "layernorm dweight");
        CpuKernels.layernormBwd(f32(dx, "dx"), f32(dweight, "dweight"), f32(dbias, "dbias"), f32(dy, "dy"), f32(x, "x"),
                f32(weight, "weight"), f32(mean, "mean"), f32(rstd, "rstd"), n, c);
    }

    /** N, the rows of x [N, C], after checking that the [C] and [N] companions of x fit it. */
    private static int layernormRows(Tensor x, Tensor weight, Tensor bias, Tensor mean, Tensor rstd) {
        long c = weight.numel();
        if (c == 0 || x.numel() % c != 0) throw new IllegalArgumentException("layernorm x " + x + " is not rows of " + c);
        if (bias.numel() != c) throw new IllegalArgumentException("layernorm bias " + bias + " for " + c + " columns");
        int n = toInt(x.numel() / c, "N");
        if (mean.numel() != n || rstd.numel() != n) {
            throw new IllegalArgumentException("layernorm mean " + mean + " and rstd " + rstd + " for " + n + " rows");
        }
        return n;
    }

    @Override
    public void reluForward(Tensor y, Tensor x) {
        sameSize(y, x, "relu");
        CpuKernels.reluFwd(f32(y, "y"), f32(x, "x"), x.numel());
    }

    @Override
    public void reluBackward(Tensor dx, Tensor dy, Tensor x) {
        sameSize(dx, x, "relu");
        sameSize(dy, x, "relu");
        CpuKernels.reluBwd(f32(dx, "dx"), f32(dy, "dy"), f32(x, "x"), x.numel());
    }

    @Override
    public int rewardPairwiseLoss(Tensor loss, Tensor dr, Tensor r, Tensor gold, Tensor offsets, float[] hostGold,
                                  int[] hostOffsets, float margin, float centerCoef) {
        int m = toInt(r.numel(), "responses");
        if (loss.numel() != 1) throw new IllegalArgumentException("reward loss must hold one value, got " + loss);
        sameSize(dr, r, "reward dr");
        sameSize(gold, r, "reward gold scores");
        int pairs = RewardPairs.count(hostGold, hostOffsets, m);
        // the kernel walks the groups of the tensor: it must be the validated offsets
        i32(offsets, "reward group offsets");
        if (!Arrays.equals(offsets.toIntArray(), hostOffsets)) {
            throw new IllegalArgumentException("reward group offsets " + offsets + " differ from the host offsets "
                    + Arrays.toString(hostOffsets));
        }
        CpuKernels.rewardPairwiseLoss(f32(loss, "loss"), f32(dr, "dr"), f32(r, "rewards"), f32(gold, "gold"),
                i32(offsets, "offsets"), hostOffsets.length - 1, margin, centerCoef, pairs == 0 ? 0f : 1f / pairs);
        return pairs;
    }

    @Override
    public void dpoLoss(Tensor loss, Tensor metrics, Tensor dChosen, Tensor dRejected, Tensor policyChosen,
                        Tensor policyRejected, Tensor refChosen, Tensor refRejected, DpoLoss settings) {
        int pairs = toInt(policyChosen.numel(), "DPO pairs");
        if (loss.numel() != 1) throw new IllegalArgumentException("DPO loss must hold one value, got " + loss);
        if (metrics.numel() != DpoLoss.METRICS.length) {
            throw new IllegalArgumentException("DPO metrics must hold " + DpoLoss.METRICS.length + " values, got " + metrics);
        }
        if ((refChosen == null) != (refRejected == null)) {
            throw new IllegalArgumentException("DPO reference log-probabilities: give both or neither");
        }
        for (Tensor t : new Tensor[] {dChosen, dRejected, policyRejected, refChosen, refRejected}) {
            if (t != null) sameSize(t, policyChosen, "DPO log-probabilities");
        }
        CpuKernels.dpoLoss(f32(loss, "loss"), f32(metrics, "metrics"), f32(dChosen, "d chosen"),
                f32(dRejected, "d rejected"), f32(policyChosen, "policy chosen"), f32(policyRejected, "policy rejected"),
                refChosen == null ? MemorySegment.NULL : f32(refChosen, "reference chosen"),
                refRejected == null ? MemorySegment.NULL : f32(refRejected, "reference rejected"), pairs,
                settings.type().ordinal(), settings.beta(), settings.labelSmoothing(), settings.referenceFree());
    }

    @Override
    public void sequenceLogProbs(Tensor logp, Tensor tokenLosses) {
        int b = toInt(logp.numel(), "sequences"), n = toInt(tokenLosses.numel(), "token losses");
        if (b == 0 || n % b != 0) throw new IllegalArgumentException(n + " token losses do not split into " + b + " sequences");
        CpuKernels.dpoSequenceLogp(f32(logp, "logp"), f32(tokenLosses, "token losses"), b, n / b);
    }

    @Override
    public void dpoStep(StepScalars step, Tensor metricSums, Tensor rowScales, Tensor loss, Tensor metrics,
                        Tensor dChosen, Tensor dRejected) {
        int pairs = toInt(dChosen.numel(), "DPO pairs");
        sameSize(dRejected, dChosen, "DPO d rejected");
        if (rowScales.numel() != 2L * pairs || metricSums.numel() != DpoLoss.METRICS.length || loss.numel() != 1
                || metrics.numel() != DpoLoss.METRICS.length) {
            throw new IllegalArgumentException("DPO step: row scales " + rowScales + ", metric sums " + metricSums
                    + ", loss " + loss + ", metrics " + metrics + " for " + pairs + " pairs");
        }
        // the step's scalars are held on the host here: the loss sum goes to them, the gradient scale comes from them
        try (Arena a = Arena.ofConfined()) {
            MemorySegment lossSum = a.allocate(ValueLayout.JAVA_FLOAT), scale = a.allocate(ValueLayout.JAVA_FLOAT);
            scale.set(ValueLayout.JAVA_FLOAT, 0, step.gradScale());
            CpuKernels.dpoStep(lossSum, f32(metricSums, "metric sums"), f32(rowScales, "row scales"), f32(loss, "loss"),
                    f32(metrics, "metrics"), f32(dChosen, "d chosen"), f32(dRejected, "d rejected"), scale, pairs);
            step.addHostLoss(lossSum.get(ValueLayout.JAVA_FLOAT, 0));
        }
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int ignoreIndex,
                            float gradScale) {
        return crossEntropy(losses, dlogits, logits, targets, ignoreIndex, gradScale, null);
    }

    @Override
    public int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int[] hostTargets,
                            int ignoreIndex, Tensor rowScales) {
        return crossEntropy(losses, dlogits, logits, targets, ignoreIndex, 1f, rowScales);
    }

    private int crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, Tensor targets, int ignoreIndex,
                             float gradScale, Tensor rowScales) {
        int n = toInt(targets.numel(), "N"), v = toInt(logits.numel() / Math.max(1, n), "V");
        if (logits.numel() != (long) n * v || losses.numel() != n) {
            throw new IllegalArgumentException("cross-entropy: logits " + logits + ", losses " + losses
                    + " for " + n + " targets");
        }
        if (dlogits != null) sameSize(dlogits, logits, "cross-entropy dlogits");
        int rows = rowScales == null ? 0 : toInt(rowScales.numel(), "row scales");
        if (rowScales != null && (rows == 0 || n % rows != 0)) {
            throw new IllegalArgumentException("cross-entropy: " + rows + " row scales for " + n + " rows");
        }
        int counted = CpuKernels.crossEntropyRows(f32(losses, "losses"),
                dlogits == null ? MemorySegment.NULL : f32(dlogits, "dlogits"), f32(logits, "logits"),
                i32(targets, "targets"), n, v, ignoreIndex, gradScale,
                rowScales == null ? MemorySegment.NULL : f32(rowScales, "row scales"), rows == 0 ? 1 : n / rows);
        if (counted < 0) {
            int row = -1 - counted;
            throw new IllegalArgumentException("target " + targets.getInt(row) + " at row " + row
                    + " is outside the vocabulary of " + v);
        }
        return counted;
    }

    @Override
    public void adamw(Tensor param, Tensor master, Tensor grad, Tensor m, Tensor v, AdamW hp, float lr, int step,
                      float gradScale) {
        if (master != null) {
            // a low-precision working copy: update the fp32 master, then round it into the parameter
            adamw(master, null, grad, m, v, hp, lr, step, gradScale);
            convert(param, master);
            return;
        }
        sameSize(param, grad, "adamw");
        sameSize(param, m, "adamw");
        sameSize(param, v, "adamw");
        CpuKernels.adamw(f32(param, "param"), f32(grad, "grad"), f32(m, "m"), f32(v, "v"), param.numel(), lr,
                hp.beta1(), hp.beta2(), hp.eps(), hp.weightDecay(), step, gradScale);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return CpuKernels.sumsq(f32(x, "x"), x.numel());
    }

    @Override
    public void scale(Tensor x, float s) {
        CpuKernels.scale(f32(x, "x"), x.numel(), s);
    }

    @Override
    public void add(Tensor y, Tensor a, Tensor b) {
        sameSize(y, a, "add");
        sameSize(y, b, "add");
        CpuKernels.add(f32(y, "y"), f32(a, "a"), f32(b, "b"), y.numel());
    }

    @Override
    public void loraForward(Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale, float dropout, long seed) {
        int n = loraRows(x, a, b, dropout), r = (int) a.dim(0), in = (int) a.dim(1);
        Tensor t2 = t.view(n, r);
        if (dropout == 0f) {
            matmul(t2, x.view(n, in), false, a, true, 1f, 0f);
        } else {
            try (Arena tmp = Arena.ofShared()) {
                matmul(t2, dropped(tmp, x.view(n, in), dropout, seed), false, a, true, 1f, 0f);
            }
        }
        matmul(y.view(n, b.dim(0)), t2, false, b, true, scale, 1f);
    }

    @Override
    public void loraBackward(Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a, Tensor b,
                             Tensor t, float scale, float dropout, long seed) {
        int n = loraRows(x, a, b, dropout), r = (int) a.dim(0), in = (int) a.dim(1);
        Tensor dy2 = dy.view(n, b.dim(0)), dt2 = dt.view(n, r);
        matmul(dt2, dy2, false, b, false, scale, 0f);
        matmul(dB, dy2, true, t.view(n, r), false, scale, 1f);
        if (dropout == 0f) {
            matmul(dA, dt2, true, x.view(n, in), false, 1f, 1f);
            if (dx != null) matmul(dx.view(n, in), dt2, false, a, false, 1f, 1f);
            return;
        }
        // with dropout the mask applies to x for dA and to the product for dx: both through temporaries
        // (a shared arena, since the masking runs in parallel; only opened when needed, closing one is not free)
        try (Arena tmp = Arena.ofShared()) {
            matmul(dA, dt2, true, dropped(tmp, x.view(n, in), dropout, seed), false, 1f, 1f);
            if (dx == null) return;
            Tensor g = Tensor.allocate(tmp, DType.F32, n, in);
            matmul(g, dt2, false, a, false, 1f, 0f);
            add(dx, dx, dropped(tmp, g, dropout, seed));
        }
    }

    /** N, the rows of x, after checking the adapter's shapes. */
    private static int loraRows(Tensor x, Tensor a, Tensor b, float dropout) {
        if (a.rank() != 2 || b.rank() != 2 || b.dim(1) != a.dim(0)) {
            throw new IllegalArgumentException("lora A " + a + " and B " + b + " do not form an adapter");
        }
        if (a.dim(1) == 0 || x.numel() % a.dim(1) != 0) throw new IllegalArgumentException("lora x " + x + " is not rows of " + a.dim(1));
        if (!(dropout >= 0f && dropout < 1f)) throw new IllegalArgumentException("lora dropout must be in [0, 1), got " + dropout);
        return toInt(x.numel() / a.dim(1), "lora rows");
    }

    /**
     * x itself when p = 0, else a copy of x [N, in] with the {@link LoraDropout} mask applied, owned
     * by {@code arena} (shared: the rows are masked in parallel).
     */
    private static Tensor dropped(Arena arena, Tensor x, float p, long seed) {
        if (p == 0f) return x;
        int rows = toInt(x.dim(0), "rows"), cols = toInt(x.dim(1), "cols");
        Tensor out = Tensor.allocate(arena, DType.F32, rows, cols);
        out.data().copyFrom(f32(x, "lora x")); // x may belong to a confined arena: only this thread reads it
        MemorySegment d = out.data();
        IntStream.range(0, rows).parallel().forEach(i -> {
            long base = (long) i * cols;
            for (int j = 0; j < cols; j++) {
                float v = d.getAtIndex(ValueLayout.JAVA_FLOAT, base + j) * LoraDropout.scale(seed, i, j, p);
                d.setAtIndex(ValueLayout.JAVA_FLOAT, base + j, v);
            }
        });
        return out;
    }

    @Override
    public String toString() {
        return "cpu (" + threads + " threads, " + CpuKernels.simdPath()
                + (weightType == DType.F32 ? "" : ", " + weightType + " weights") + ")";
    }

}
