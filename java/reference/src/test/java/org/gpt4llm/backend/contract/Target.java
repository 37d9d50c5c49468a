package org.gpt4llm.backend.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.CpuKernels.SimdPath;
import org.gpt4llm.backend.cuda.device.CudaLibraries;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TargetSelection;
import org.junit.jupiter.params.provider.Arguments;

/**
 * A backend a contract test runs on, with how it stores values and how close its results must come
 * to the reference. The CPU backend runs on its AVX2 path ({@code cpu}; the scalar one on CPUs without
 * AVX2) and with the scalar fallback forced; the kernels that have an AVX-512 path also run on it
 * ({@code cpu-avx512}: native where the CPU has AVX-512F, SIMDe's emulation of the same instructions
 * elsewhere), and the GEMV of bf16 weights on its AVX512_BF16 dot products ({@code cpu-avx512-bf16}, the
 * same way). {@code cuda-emu} runs the CUDA kernels in the emulation; {@code cuda} joins where a GPU is
 * present.
 */
public enum Target {
    CPU("cpu", false),
    CPU_SCALAR("cpu-scalar", false),
    CPU_AVX512("cpu-avx512", false),
    CPU_AVX512_BF16("cpu-avx512-bf16", false),
    CUDA_EMU("cuda-emu", true),
    CUDA("cuda", true);

    /** What a result is, for its tolerance. */
    public enum Result {
        /**
         * Stored in the backend's activation type. On a GPU that is bf16, computed in fp32 and rounded
         * once: half an ulp of 8 significant bits (3.9e-3 at most per element, about 1.5e-3 over many),
         * so 5e-3 leaves room for fp32 noise; a wrong term, index or lost accumulation shows up at 0.03
         * and above. On the CPU everything is fp32: a few ulps of accumulated rounding.
         */
        STORED,
        /** fp32 from the same inputs as the reference: only the order of long fp32 sums differs. */
        F32_SUM,
        /** fp32 from short reductions (a loss, an optimizer update, a rank-r product): a few ulps. */
        F32_SHORT
    }

    private final String label;
    private final boolean bf16;
    private Backend backend;

    Target(String label, boolean bf16) {
        this.label = label;
        this.bf16 = bf16;
    }

    /**
     * The backends of this machine: cpu twice, cuda-emu, and cuda when its driver and cuBLAS load; only
     * those {@code -Dgpt4llm.targets} names where it is set ({@link TargetSelection}).
     */
    public static List<Target> present() {
        return TargetSelection.select(List.of(CPU, CPU_SCALAR, CUDA_EMU, CUDA), Target::toString, Target::whyAbsent);
    }

    /** {@link #present} and {@code cpu-avx512}: the targets of a kernel that has an AVX-512 path. */
    public static List<Target> presentWithAvx512() {
        return TargetSelection.select(List.of(CPU, CPU_SCALAR, CPU_AVX512, CUDA_EMU, CUDA), Target::toString,
                Target::whyAbsent);
    }

    /** {@code cpu-avx512-bf16} where it is selected: the GEMV's bf16 dot products. */
    public static List<Target> bf16DotProducts() {
        return TargetSelection.select(List.of(CPU_AVX512_BF16), Target::toString, Target::whyAbsent);
    }

    private static String whyAbsent(Target t) {
        return t != CUDA ? null : CudaLibraries.missing().orElse(null);
    }

    /**
     * The present backends that run the CUDA kernels: cuda-emu always, cuda where a GPU is present (as
     * {@link #present} selects them), for the tests that compare a whole model on them with the cpu backend.
     */
    public static Stream<Target> cudaKinds() {
        return present().stream().filter(Target::bf16);
    }

    /** Every present target with every case: the arguments of a contract test, the target first. */
    public static Stream<Arguments> crossed(Object[]... cases) {
        return crossed(present(), cases);
    }

    /** {@link #crossed} with {@code cpu-avx512} among the targets. */
    public static Stream<Arguments> crossedWithAvx512(Object[]... cases) {
        return crossed(presentWithAvx512(), cases);
    }

    /** {@code cpu-avx512-bf16} with every case, where it is selected. */
    public static Stream<Arguments> crossedWithBf16Dot(Object[]... cases) {
        return crossed(bf16DotProducts(), cases);
    }

    /**
     * The targets that are not emulated with every case: for sizes the emulation would take seconds
     * over (it runs a block's threads as OS threads, one block after another), whose launch geometry
     * the smaller cases already cover there.
     */
    public static Stream<Arguments> notEmulated(Object[]... cases) {
        return crossed(present().stream().filter(t -> t != CUDA_EMU).toList(), cases);
    }

    private static Stream<Arguments> crossed(List<Target> targets, Object[]... cases) {
        Stream.Builder<Arguments> b = Stream.builder();
        for (Target t : targets) {
            for (Object[] c : cases) {
                Object[] args = new Object[c.length + 1];
                args[0] = t;
                System.arraycopy(c, 0, args, 1, c.length);
                b.add(Arguments.of(args));
            }
        }
        return b.build();
    }

    /** Every present target, for a test without further cases. */
    public static Stream<Target> all() {
        return present().stream();
    }

    static {
        referenceThreads();
    }

    /**
     * libtorch computes the references on one thread, its BLAS included. The cpu backend sets the
     * OpenBLAS it shares with libtorch in this process to its own thread count (on opening, and again
     * after each small GEMM), and two BLAS threads under libtorch's own loop make its small GEMMs 10 to
     * 100 times slower on two busy cores: so the setting is restored after every use of a backend.
     */
    private static void referenceThreads() {
        Torch.setThreads(1);
    }

    /** The backend, opened on first use and kept for the JVM (2 threads, as the suite runs on 2 cores). */
    public synchronized Backend backend() {
        if (backend == null) {
            backend = Backends.open(bf16 ? label : "cpu", 2);
            referenceThreads();
        }
        return backend;
    }

    /** Whether activations (and weights) are bf16 here. */
    public boolean bf16() {
        return bf16;
    }

    /** The storage type of activations. */
    public DType act() {
        return bf16 ? DType.BF16 : DType.F32;
    }

    public double tol(Result r) {
        if (!bf16) return 1e-5;
        return switch (r) {
            case STORED -> 5e-3;
            case F32_SUM -> 1e-4;
            case F32_SHORT -> 1e-5;
        };
    }

    /** Runs {@code body} on this target's code path (the CPU's SIMD path forced as the target says). */
    public void run(Runnable body) {
        SimdPath path = switch (this) {
            case CPU_SCALAR -> SimdPath.SCALAR;
            case CPU_AVX512 -> SimdPath.AVX512;
            case CPU_AVX512_BF16 -> SimdPath.AVX512_BF16;
            // AVX-512 is cpu-avx512's
            case CPU -> CpuKernels.simdPath().compareTo(SimdPath.AVX512) >= 0 ? SimdPath.AVX2 : null;
            default -> null;
        };
        if (path != null) CpuKernels.forceSimdPath(path);
        try {
            if (path != null) assertEquals(path, CpuKernels.simdPath(), "forcing the " + path + " path did not take");
            body.run();
        } finally {
            if (path != null) CpuKernels.forceSimdPath(null);
            referenceThreads();
        }
    }

    /** v as this target holds it in its activation type (rounded to bf16 on a GPU): what the reference must see. */
    public float[] held(float[] v) {
        return bf16 ? Bf16.round(v) : v.clone();
    }

    /** A tensor of {@code dtype} on this backend holding v (rounded when the dtype is BF16). */
    public Tensor put(Arena arena, DType dtype, float[] v, long... shape) {
        Tensor t = backend().allocate(arena, dtype, shape);
        backend().upload(t, Tensor.of(arena, v, shape));
        return t;
    }

    /** An activation tensor (F32 on the CPU, BF16 on a GPU) holding v. */
    public Tensor act(Arena arena, float[] v, long... shape) {
        return put(arena, act(), v, shape);
    }

    /** An F32 tensor holding v. */
    public Tensor f32(Arena arena, float[] v, long... shape) {
        return put(arena, DType.F32, v, shape);
    }

    /** An I32 tensor holding v. */
    public Tensor ints(Arena arena, int[] v, long... shape) {
        Tensor t = backend().allocate(arena, DType.I32, shape);
        backend().upload(t, v);
        return t;
    }

    /**
     * A 1-D tensor holding v that starts one element past an aligned address, so vectorised kernels
     * take their one-element-at-a-time path.
     */
    public Tensor misaligned(Arena arena, DType dtype, float[] v) {
        float[] padded = new float[v.length + 1];
        System.arraycopy(v, 0, padded, 1, v.length);
        Tensor t = put(arena, dtype, padded, padded.length);
        return Tensor.wrap(t.data().asSlice(dtype.bytes(), (long) v.length * dtype.bytes()), dtype, v.length);
    }

    /** A tensor's values, as floats. */
    public float[] get(Tensor t) {
        return backend().download(t);
    }

    @Override
    public String toString() {
        return label;
    }
}
