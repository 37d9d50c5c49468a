package org.gpt4llm.bench;

import static org.gpt4llm.tensor.DType.BF16;
import static org.gpt4llm.tensor.DType.F32;

import java.util.List;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.Backend.AttentionShape;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.kernels.ActivationKernels;
import org.gpt4llm.backend.cuda.kernels.AdamWKernels;
import org.gpt4llm.backend.cuda.kernels.AttentionKernels;
import org.gpt4llm.backend.cuda.kernels.CrossEntropyKernels;
import org.gpt4llm.backend.cuda.kernels.EmbeddingKernels;
import org.gpt4llm.backend.cuda.kernels.LoraKernels;
import org.gpt4llm.backend.cuda.kernels.NormClipKernels;
import org.gpt4llm.backend.cuda.kernels.NormKernels;
import org.gpt4llm.backend.cuda.kernels.RopeKernels;
import org.gpt4llm.bench.KernelCases.Case;
import org.gpt4llm.bench.KernelCases.Inputs;
import org.gpt4llm.bench.KernelCases.Peer;
import org.gpt4llm.bench.KernelCases.Shapes;
import org.gpt4llm.tensor.Tensor;

/**
 * The cases of {@link KernelCases} that go through the kernel launchers, one method per family.
 * Bytes count each element a kernel must read or write once (bf16 2 bytes, fp32 and int32 4),
 * whatever the kernel re-reads from cache; N = tokens, C = hidden, F = ffn, V = vocabulary.
 * The pairwise reward loss is left out: it works on a few scalars per sequence.
 */
final class KernelFamilies {
    /** LoRA as PEFT's common setting: rank 16, alpha 32, dropout 0.05, on a C x C projection. */
    private static final int LORA_RANK = 16;
    private static final float LORA_SCALE = 32f / LORA_RANK, LORA_DROPOUT = 0.05f;

    private KernelFamilies() {}

    static List<Case> embedding(Shapes s, Inputs in) {
        int n = s.tokens(), c = s.hidden(), v = s.vocab();
        Device d = in.device();
        Tensor tokens = in.ints(v, n), table = in.bf16(v, c), out = in.zeros(BF16, n, c);
        Tensor dout = in.bf16(n, c), dtable = in.zeros(F32, v, c);
        return List.of(
                new Case("embedding fwd", 2.0 * n * c * 2 + 4.0 * n, 0,
                        "embedding fwd: bytes = N·C·2 (table rows read) + N·C·2 (out) + 4·N (ids)", null,
                        () -> EmbeddingKernels.embeddingForward(d, out, tokens, table)),
                new Case("embedding bwd", n * c * 2.0 + 2.0 * n * c * 4 + 4.0 * n, 0,
                        "embedding bwd: bytes = N·C·2 (dout) + 2·N·C·4 (dtable rows read and written, ids taken as "
                                + "distinct) + 4·N (ids)", null,
                        () -> EmbeddingKernels.embeddingBackward(d, dtable, tokens, dout)));
    }

    static List<Case> norms(Shapes s, Inputs in) {
        int n = s.tokens(), c = s.hidden();
        Device d = in.device();
        Tensor x = in.bf16(n, c), y = in.zeros(BF16, n, c), dy = in.bf16(n, c), dx = in.zeros(BF16, n, c);
        Tensor w = in.bf16(c), b = in.bf16(c), dw = in.zeros(F32, c), db = in.zeros(F32, c);
        Tensor rstd = in.zeros(F32, n), mean = in.zeros(F32, n);
        NormKernels.rmsnormForward(d, y, rstd, x, w, 1e-5f);   // a real rstd for the backward
        Tensor lnRstd = in.zeros(F32, n);
        NormKernels.layernormForward(d, y, mean, lnRstd, x, w, b, 1e-5f);
        return List.of(
                new Case("rmsnorm fwd", 2.0 * n * c * 2 + c * 2.0 + 4.0 * n, 0,
                        "rmsnorm fwd: bytes = N·C·2 (x) + N·C·2 (y) + C·2 (weight) + 4·N (rstd)", null,
                        () -> NormKernels.rmsnormForward(d, y, rstd, x, w, 1e-5f)),
                new Case("rmsnorm bwd", 4.0 * n * c * 2 + c * 2.0 + 4.0 * n + 2.0 * c * 4, 0,
                        "rmsnorm bwd: bytes = 2·N·C·2 (dy, x) + 2·N·C·2 (dx read and written) + C·2 + 4·N + 2·C·4 (dweight)",
                        null, () -> NormKernels.rmsnormBackward(d, dx, dw, dy, x, w, rstd)),
                new Case("layernorm fwd", 2.0 * n * c * 2 + 2.0 * c * 2 + 8.0 * n, 0,
                        "layernorm fwd: bytes = N·C·2 (x) + N·C·2 (y) + 2·C·2 (weight, bias) + 2·4·N (mean, rstd)", null,
                        () -> NormKernels.layernormForward(d, y, mean, lnRstd, x, w, b, 1e-5f)),
                new Case("layernorm bwd", 4.0 * n * c * 2 + c * 2.0 + 8.0 * n + 4.0 * c * 4, 0,
                        "layernorm bwd: bytes = 2·N·C·2 (dy, x) + 2·N·C·2 (dx) + C·2 + 2·4·N + 2·2·C·4 (dweight, dbias)",
                        null, () -> NormKernels.layernormBackward(d, dx, dw, db, dy, x, w, mean, lnRstd)));
    }

    static List<Case> rope(Shapes s, Inputs in) {
        int n = s.tokens(), h = s.heads(), hd = s.headDim();
        Device d = in.device();
        Tensor q = in.bf16(n, (long) h * hd), positions = in.ints(s.seq(), n);
        double bytes = 2.0 * n * h * hd * 2 + 4.0 * n;
        String formula = "rope: bytes = 2·N·Hq·D·2 (q read and written in place) + 4·N (positions)";
        return List.of(
                new Case("rope fwd (q)", bytes, 0, formula, null, () -> RopeKernels.ropeForward(d, q, positions, h, hd, 10000f)),
                new Case("rope bwd (dq)", bytes, 0, formula, null, () -> RopeKernels.ropeBackward(d, q, positions, h, hd, 10000f)));
    }

    static List<Case> activations(Shapes s, Inputs in) {
        long n = s.tokens(), f = s.ffn(), c = s.hidden();
        Device d = in.device();
        Tensor gate = in.bf16(n, f), up = in.bf16(n, f), h = in.zeros(BF16, n, f), dh = in.bf16(n, f);
        Tensor dgate = in.zeros(BF16, n, f), dup = in.zeros(BF16, n, f);
        Tensor a = in.bf16(n, c), b = in.bf16(n, c), sum = in.zeros(BF16, n, c);
        double nf2 = n * f * 2.0;
        return List.of(
                new Case("swiglu fwd", 3 * nf2, 0, "swiglu fwd: bytes = 3·N·F·2 (gate, up, h)", null,
                        () -> ActivationKernels.swigluForward(d, h, gate, up)),
                new Case("swiglu bwd", 5 * nf2, 0, "swiglu bwd: bytes = 5·N·F·2 (dh, gate, up, dgate, dup)", null,
                        () -> ActivationKernels.swigluBackward(d, dgate, dup, dh, gate, up)),
                new Case("relu fwd", 2 * nf2, 0, "relu fwd: bytes = 2·N·F·2", null, () -> ActivationKernels.reluForward(d, h, gate)),
                new Case("relu bwd", 3 * nf2, 0, "relu bwd: bytes = 3·N·F·2", null,
                        () -> ActivationKernels.reluBackward(d, dgate, dh, gate)),
                new Case("residual add", 3 * n * c * 2.0, 0, "residual add: bytes = 3·N·C·2", null,
                        () -> ActivationKernels.add(d, sum, a, b)));
    }

    static final String ATTENTION_FORMULA = "attention: FLOP = 4·B·Hq·T²·D / 2 forward (QKᵀ and PV are 2·T²·D each per "
            + "head and sequence, halved by the causal mask), 2.5 × that backward (QKᵀ recomputed, then dV = Pᵀ·dO, "
            + "dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q: 5 products against the forward's 2)";

    /** Causal self-attention over full sequences, against a square GEMM of equal FLOPs. */
    static List<Case> attention(Shapes s, Inputs in) {
        int b = s.batch(), t = s.seq(), hq = s.heads(), hkv = s.kvHeads(), hd = s.headDim();
        Device d = in.device();
        AttentionShape shape = new AttentionShape(b, t, hq, hkv, hd, (float) (1 / Math.sqrt(hd)));
        Tensor q = in.bf16(b, t, hq, hd), k = in.bf16(b, t, hkv, hd), v = in.bf16(b, t, hkv, hd), dout = in.bf16(b, t, hq, hd);
        Tensor out = in.zeros(BF16, b, t, hq, hd), lse = in.zeros(F32, b, hq, t);
        Tensor dq = in.zeros(BF16, b, t, hq, hd), dk = in.zeros(BF16, b, t, hkv, hd), dv = in.zeros(BF16, b, t, hkv, hd);
        Tensor workspace = in.zeros(F32, AttentionKernels.workspaceElements(shape));
        AttentionKernels.attentionForward(d, out, lse, q, k, v, null, shape);   // the out and lse the backward reads
        double fwd = 4.0 * b * hq * t * (double) t * hd / 2;
        String label = String.format(java.util.Locale.ROOT, " B=%d T=%d H=%d/%d D=%d", b, t, hq, hkv, hd);
        return List.of(
                new Case("attention fwd" + label, 0, fwd, ATTENTION_FORMULA, KernelCases.squareGemm(in, fwd),
                        () -> AttentionKernels.attentionForward(d, out, lse, q, k, v, null, shape)),
                new Case("attention bwd" + label, 0, 2.5 * fwd, ATTENTION_FORMULA, KernelCases.squareGemm(in, 2.5 * fwd),
                        () -> AttentionKernels.attentionBackward(d, dq, dk, dv, dout, out, lse, q, k, v, null, shape,
                                workspace)));
    }

    /** Forward and backward in one launch, the gradient written over the logits as in training. */
    static List<Case> crossEntropy(Shapes s, Inputs in) {
        int n = s.tokens(), v = s.vocab();
        Device d = in.device();
        int[] targets = in.rng().ints(n, 0, v).toArray();
        Tensor logits = in.bf16(n, v), losses = in.zeros(F32, n), t = in.ints(targets);
        return List.of(new Case("cross-entropy fwd+bwd", 2.0 * n * v * 2 + 8.0 * n, 0,
                "cross-entropy fwd+bwd: bytes = N·V·2 (logits) + N·V·2 (dlogits, in place) + 4·N (targets) + 4·N (losses)",
                null, () -> CrossEntropyKernels.crossEntropy(d, losses, logits, logits, t, targets, -100, 1f / n)));
    }

    /**
     * The LoRA path on a C x C projection (q_proj), timed against the frozen base GEMM of the same
     * layer, the work the adapter is added to: x·Wᵀ forward, dy·W backward (under LoRA the base's dW
     * is skipped). The ratio is the share of the layer's time the adapter adds.
     */
    static List<Case> lora(Shapes s, Inputs in) {
        int n = s.tokens(), c = s.hidden(), r = LORA_RANK;
        Device d = in.device();
        LoraKernels.Workspace ws = in.own(new LoraKernels.Workspace(d));
        Tensor x = in.bf16(n, c), a = in.bf16(r, c), b = in.bf16(c, r), y = in.bf16(n, c), dy = in.bf16(n, c);
        Tensor t = in.zeros(F32, n, r), dt = in.zeros(F32, n, r), dx = in.zeros(BF16, n, c);
        Tensor dA = in.zeros(F32, r, c), dB = in.zeros(F32, c, r);
        Tensor w = in.bf16(c, c);
        double flops = 2.0 * n * r * (c + c), baseFlops = 2.0 * n * c * c;
        String base = String.format(java.util.Locale.ROOT, "frozen base GEMM %dx%dx%d ", n, c, c);
        Peer fwdBase = new Peer(base + "x·Wᵀ", baseFlops, () -> mm(d, y, x, false, w, true, 0f), true);
        Peer bwdBase = new Peer(base + "dy·W", baseFlops, () -> mm(d, dx, dy, false, w, false, 0f), true);
        return List.of(
                new Case("lora fwd r=" + r, 3.0 * n * c * 2 + n * r * 4.0, flops, LORA_FORMULA, fwdBase,
                        () -> LoraKernels.forward(d, ws, y, t, x, a, b, LORA_SCALE, LORA_DROPOUT, 7)),
                new Case("lora bwd r=" + r, 4.0 * n * c * 2 + 2.0 * n * r * 4, 2 * flops, LORA_FORMULA, bwdBase,
                        () -> LoraKernels.backward(d, ws, dx, dA, dB, dt, dy, x, a, b, t, LORA_SCALE, LORA_DROPOUT, 7)));
    }

    private static final String LORA_FORMULA = "lora: FLOP = 2·N·r·(in+out) fwd, twice that bwd (dt, dx, dB, dA); bytes fwd ="
            + " N·in·2 + 2·N·out·2 + N·r·4, bwd = N·out·2 + 3·N·in·2 + 2·N·r·4 (dy, x, dx read and written, t, dt); set"
            + " against the time of the frozen base GEMM of the same layer (x·Wᵀ fwd, dy·W bwd)";

    /** AdamW and the grad-norm reduction over the weights of one MLP block (3·F·C parameters). */
    static List<Case> optimizer(Shapes s, Inputs in) {
        long p = 3L * s.ffn() * s.hidden();
        Device d = in.device();
        Tensor param = in.zeros(BF16, p), master = in.f32(p), grad = in.f32(p);
        Tensor m = in.zeros(F32, p), v = in.zeros(F32, p), sumsq = in.zeros(F32, 1);
        Backend.AdamW hp = new Backend.AdamW(0.9f, 0.95f, 1e-8f, 0.1f);
        return List.of(
                new Case("adamw (one MLP block)", 30.0 * p, 0,
                        "adamw: bytes = 30·P (master, m, v fp32 read and written, grad fp32 read, param bf16 written)", null,
                        () -> AdamWKernels.adamw(d, param, master, grad, m, v, hp, 1e-4f, 1, 1f, null)),
                new Case("grad-norm sum of squares", 4.0 * p, 0, "grad-norm: bytes = 4·P (fp32 gradients read)", null,
                        () -> NormClipKernels.sumOfSquares(d, sumsq, grad)));
    }

    /** Row-major {@code c = op(a)·op(b) + beta·c} for 2-D tensors, the strides their row lengths. */
    static void mm(Device d, Tensor c, Tensor a, boolean ta, Tensor b, boolean tb, float beta) {
        int m = (int) c.dim(0), n = (int) c.dim(1), k = (int) (ta ? a.dim(0) : a.dim(1));
        d.gemm(ta, tb, m, n, k, 1f, a, (int) a.dim(1), b, (int) b.dim(1), beta, c, n);
    }
}
