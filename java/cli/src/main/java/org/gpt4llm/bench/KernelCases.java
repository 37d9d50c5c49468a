package org.gpt4llm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The table of what {@code gpt4llm bench kernels} times: per kernel family, named cases at the
 * shapes of one training step of a LLaMA size, each with the work it does (bytes moved or FLOPs),
 * the formula that work was counted by, and the launch itself. A family contributes cases only for
 * the launchers this build has.
 */
final class KernelCases {
    private KernelCases() {}

    /** Shapes of one training step: B sequences of T tokens through a LLaMA of the given size. */
    record Shapes(String name, int batch, int seq, int hidden, int heads, int kvHeads, int headDim, int ffn, int vocab) {
        int tokens() {
            return batch * seq;
        }

        static Shapes preset(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                // small enough for the emulation, which runs every GPU thread as an OS thread
                case "tiny" -> new Shapes("tiny", 1, 64, 128, 2, 1, 64, 352, 1000);
                // TinyLlama-1.1B (GQA 32/4, head dim 64)
                case "1b" -> new Shapes("1b", 4, 2048, 2048, 32, 4, 64, 5632, 32000);
                // LLaMA-7B (head dim 128)
                case "7b" -> new Shapes("7b", 2, 2048, 4096, 32, 32, 128, 11008, 32000);
                default -> throw new IllegalArgumentException("unknown size " + name + " in --sizes (tiny, 1b or 7b)");
            };
        }

        String describe() {
            return String.format(Locale.ROOT, "batch %d x seq %d = %d tokens, hidden %d, heads %d/%d x %d, ffn %d, vocab %d",
                    batch, seq, tokens(), hidden, heads, kvHeads, headDim, ffn, vocab);
        }
    }

    /**
     * What a case is set against, timed in the same run. By FLOP rate: GEMMs of the device (cuBLAS on
     * a GPU) doing {@code flops} of work, the same products as the case or a square GEMM of equal
     * FLOPs. By time ({@code byTime}): the work the case is added to, such as the frozen base GEMM a
     * LoRA adapter sits on, where what matters is how much time the case adds.
     */
    record Peer(String label, double flops, Runnable launch, boolean byTime) {
        Peer(String label, double flops, Runnable launch) {
            this(label, flops, launch, false);
        }
    }

    /**
     * One timed case: {@code bytes} is the memory traffic (0 where FLOPs are what counts), {@code
     * flops} the arithmetic (0 for memory-bound kernels), {@code formula} how they were counted (one
     * line, printed once under the report), and {@code peer} the GEMM work it is compared with (null:
     * none, or the case is the GEMM itself).
     */
    record Case(String name, double bytes, double flops, String formula, Peer peer, Runnable launch) {}

    /**
     * Random device tensors for the cases of one size, freed with {@code arena}; {@code owned} holds
     * what a family opens besides (a launcher's workspace), closed before the arena.
     */
    record Inputs(Device device, Arena arena, SplittableRandom rng, List<AutoCloseable> owned) {
        Inputs(Device device, Arena arena, SplittableRandom rng) {
            this(device, arena, rng, new ArrayList<>());
        }

        /** {@code c}, closed with the other inputs of this size. */
        <T extends AutoCloseable> T own(T c) {
            owned.add(c);
            return c;
        }

        Tensor bf16(long... shape) {
            return random(DType.BF16, shape);
        }

        Tensor f32(long... shape) {
            return random(DType.F32, shape);
        }

        Tensor zeros(DType dtype, long... shape) {
            return device.allocate(arena, dtype, shape);
        }

        /** Uniform integers in [0, bound): token ids, targets, positions. */
        Tensor ints(int bound, int n) {
            return ints(rng.ints(n, 0, bound).toArray());
        }

        Tensor ints(int[] values) {
            Tensor t = device.allocate(arena, DType.I32, values.length);
            try (Arena host = Arena.ofConfined()) {
                device.upload(t, host.allocateFrom(ValueLayout.JAVA_INT, values));
            }
            return t;
        }

        /** Normal(0, 1) values, rounded to bf16 for BF16 tensors. */
        private Tensor random(DType dtype, long... shape) {
            Tensor t = device.allocate(arena, dtype, shape);
            long n = t.numel();
            try (Arena host = Arena.ofConfined()) {
                MemorySegment f = host.allocate(n * Float.BYTES, 64);
                for (long i = 0; i < n; i++) f.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextGaussian());
                if (dtype == DType.F32) {
                    device.upload(t, f);
                } else {
                    MemorySegment b = host.allocate(n * 2, 64);
                    CpuKernels.f32ToBf16(b, f, n);
                    device.upload(t, b);
                }
            }
            return t;
        }
    }

    /** Builds one family's cases for one size. */
    @FunctionalInterface
    interface Family {
        List<Case> cases(Shapes s, Inputs in);
    }

    /** Every family this build can launch, in the order of a training step. */
    static final List<Family> FAMILIES = List.of(KernelCases::gemm, KernelFamilies::embedding, KernelFamilies::norms,
            KernelFamilies::rope, KernelFamilies::activations, KernelFamilies::attention, KernelFamilies::crossEntropy,
            KernelFamilies::lora, KernelFamilies::optimizer);

    static final String GEMM_FORMULA = "gemm: FLOP = 2·M·N·K for row-major C[M,N] = op(A)·op(B) (NT: a linear layer's "
            + "forward, NN: its dX, TN: its dW)";

    /**
     * The linear layers of one step, each as the GEMM {@code Device.gemm} runs for it: on a GPU that is
     * cuBLAS itself, so these rows have no ratio; they are the yardstick of the other rows.
     */
    static List<Case> gemm(Shapes s, Inputs in) {
        int n = s.tokens(), c = s.hidden(), f = s.ffn(), qkv = (s.heads() + 2 * s.kvHeads()) * s.headDim();
        List<Case> out = new ArrayList<>();
        out.add(gemmCase(in, "gemm qkv fwd", false, true, n, qkv, c, DType.BF16, DType.BF16, 0f));
        out.add(gemmCase(in, "gemm mlp up fwd", false, true, n, f, c, DType.BF16, DType.BF16, 0f));
        out.add(gemmCase(in, "gemm mlp down fwd", false, true, n, c, f, DType.BF16, DType.BF16, 0f));
        out.add(gemmCase(in, "gemm lm_head fwd", false, true, n, s.vocab(), c, DType.BF16, DType.BF16, 0f));
        out.add(gemmCase(in, "gemm mlp down dX", false, false, n, f, c, DType.BF16, DType.BF16, 0f));
        // weight gradients accumulate in fp32 (beta = 1)
        out.add(gemmCase(in, "gemm mlp down dW", true, false, c, f, n, DType.BF16, DType.F32, 1f));
        out.add(gemmCase(in, "gemm mlp up fwd fp32", false, true, n, f, c, DType.F32, DType.F32, 0f));
        return out;
    }

    /**
     * A bf16 square GEMM of about {@code flops} (a multiple of 64 on a side): the rate cuBLAS reaches
     * when nothing but the tensor cores limits it, the yardstick of work that is GEMM-shaped but not
     * one GEMM (attention).
     */
    static Peer squareGemm(Inputs in, double flops) {
        int side = (int) Math.max(64, Math.round(Math.cbrt(flops / 2) / 64) * 64);
        Case g = gemmCase(in, "square", false, true, side, side, side, DType.BF16, DType.BF16, 0f);
        return new Peer("square GEMM " + side + "^3", g.flops(), g.launch());
    }

    /** Row-major {@code C[m,n] = op(A)·op(B) (+ beta·C)} with A stored [k,m] when transposed, else [m,k]; B [n,k] or [k,n]. */
    static Case gemmCase(Inputs in, String name, boolean transA, boolean transB, int m, int n, int k, DType ab, DType cType,
                         float beta) {
        Tensor a = ab == DType.BF16 ? in.bf16(transA ? k : m, transA ? m : k) : in.f32(transA ? k : m, transA ? m : k);
        Tensor b = ab == DType.BF16 ? in.bf16(transB ? n : k, transB ? k : n) : in.f32(transB ? n : k, transB ? k : n);
        Tensor cm = in.zeros(cType, m, n);
        int lda = transA ? m : k, ldb = transB ? k : n;
        String label = String.format(Locale.ROOT, "%s %s%s %s %dx%dx%d", name, transA ? "T" : "N", transB ? "T" : "N",
                ab == cType ? ab.name().toLowerCase(Locale.ROOT) : ab.name().toLowerCase(Locale.ROOT) + "->" + cType.name().toLowerCase(Locale.ROOT),
                m, n, k);
        return new Case(label, 0, 2.0 * m * n * k, GEMM_FORMULA, null,
                () -> in.device().gemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, beta, cm, n));
    }
}
