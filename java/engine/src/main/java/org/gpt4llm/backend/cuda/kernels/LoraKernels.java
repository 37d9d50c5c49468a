package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.numel;

import org.gpt4llm.backend.LoraDropout;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launches kernels/lora.cu: the low-rank adapter path {@code y += scale * (dropout(x) Aᵀ) Bᵀ} with
 * x BF16 [N, in], A BF16 [r, in], B BF16 [out, r], y BF16 [N, out], r at most {@value #MAX_RANK},
 * and its backward. {@code scale} is PEFT's scaling, alpha / r.
 */
public final class LoraKernels {
    /** The largest rank the kernels' tiles hold. */
    public static final int MAX_RANK = 64;

    private static final int TILE = 64, BLOCK = 256;

    private LoraKernels() {}

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
            if (r < 1 || r > MAX_RANK) throw new IllegalArgumentException("lora rank must be 1.." + MAX_RANK + ", got " + r);
            if (in == 0 || x.numel() % in != 0) throw new IllegalArgumentException("lora x " + x + " is not rows of " + in);
            if (!(dropout >= 0f && dropout < 1f)) throw new IllegalArgumentException("lora dropout must be in [0, 1), got " + dropout);
            return new Shape(KernelArgs.toInt(x.numel() / in, "lora rows"), in, out, r);
        }
    }

    /**
     * {@code y} += scale * (dropout(x) Aᵀ) Bᵀ, saving {@code t} = dropout(x) Aᵀ (F32 [N, r],
     * overwritten) for the backward. The dropout mask is {@link LoraDropout#scale} of {@code seed}.
     */
    public static void forward(Device d, Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale,
                               float dropout, long seed) {
        forward(d, y, t, x, a, b, scale, dropout, seed, null, 0);
    }

    /**
     * As above with the mask seed derived on the device from the step's seed {@code stepSeed} (I64 [1]
     * in device memory) and the adapter's index, {@link LoraDropout#adapterSeed}: a launch captured
     * into a CUDA graph then replays with each step's masks.
     */
    public static void forward(Device d, Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale,
                               float dropout, Tensor stepSeed, int adapter) {
        forward(d, y, t, x, a, b, scale, dropout, 0L, checkSeed(stepSeed), adapter);
    }

    private static void forward(Device d, Tensor y, Tensor t, Tensor x, Tensor a, Tensor b, float scale,
                                float dropout, long seed, Tensor stepSeed, int adapter) {
        Shape s = Shape.of(x, a, b, dropout);
        numel(dtype(y, DType.BF16, "lora y"), (long) s.n * s.out, "lora y");
        numel(dtype(t, DType.F32, "lora t"), (long) s.n * s.r, "lora t");
        if (s.n == 0) return;
        d.launch("lora_forward", Dim3.of(KernelArgs.ceilDiv(s.n, TILE)), Dim3.of(BLOCK), 0, y, t, x, a, b, s.n, s.in,
                s.out, s.r, scale, dropout, seed, KernelArgs.orNull(stepSeed), adapter);
    }

    private static Tensor checkSeed(Tensor stepSeed) {
        numel(dtype(stepSeed, DType.I64, "lora step seed"), 1, "lora step seed");
        return stepSeed;
    }

    /**
     * The backward from {@code dy} (BF16 [N, out]) with the forward's {@code t} and the same scale,
     * dropout and seed: {@code dt} (F32 [N, r], a workspace, overwritten) = scale * dy B;
     * {@code dx} (BF16 [N, in]) += mask ⊙ (dt A), skipped when dx is null; {@code dB} (F32 [out, r])
     * += scale * dyᵀ t; {@code dA} (F32 [r, in]) += dtᵀ dropout(x).
     */
    public static void backward(Device d, Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a,
                                Tensor b, Tensor t, float scale, float dropout, long seed) {
        backward(d, dx, dA, dB, dt, dy, x, a, b, t, scale, dropout, seed, null, 0);
    }

    /** As above with the step's seed in device memory and the adapter's index, as {@link #forward} takes them. */
    public static void backward(Device d, Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a,
                                Tensor b, Tensor t, float scale, float dropout, Tensor stepSeed, int adapter) {
        backward(d, dx, dA, dB, dt, dy, x, a, b, t, scale, dropout, 0L, checkSeed(stepSeed), adapter);
    }

    private static void backward(Device d, Tensor dx, Tensor dA, Tensor dB, Tensor dt, Tensor dy, Tensor x, Tensor a,
                                 Tensor b, Tensor t, float scale, float dropout, long seed, Tensor stepSeed, int adapter) {
        Shape s = Shape.of(x, a, b, dropout);
        if (dx != null) numel(dtype(dx, DType.BF16, "lora dx"), (long) s.n * s.in, "lora dx");
        numel(dtype(dA, DType.F32, "lora dA"), (long) s.r * s.in, "lora dA");
        numel(dtype(dB, DType.F32, "lora dB"), (long) s.out * s.r, "lora dB");
        numel(dtype(dt, DType.F32, "lora dt"), (long) s.n * s.r, "lora dt");
        numel(dtype(dy, DType.BF16, "lora dy"), (long) s.n * s.out, "lora dy");
        numel(dtype(t, DType.F32, "lora t"), (long) s.n * s.r, "lora t");
        if (s.n == 0) return;
        Dim3 block = Dim3.of(BLOCK);
        d.launch("lora_backward_dx", Dim3.of(KernelArgs.ceilDiv(s.n, TILE)), block, 0, KernelArgs.orNull(dx), dt, dy,
                a, b, s.n, s.in, s.out, s.r, scale, dropout, seed, KernelArgs.orNull(stepSeed), adapter);
        if (s.out > 0) {
            d.launch("lora_backward_dB", Dim3.of(KernelArgs.ceilDiv(s.out, TILE)), block, 0, dB, dy, t, s.n, s.out, s.r,
                    scale);
        }
        d.launch("lora_backward_dA", Dim3.of(KernelArgs.ceilDiv(s.in, TILE)), block, 0, dA, dt, x, s.n, s.in, s.r,
                dropout, seed, KernelArgs.orNull(stepSeed), adapter);
    }
}
