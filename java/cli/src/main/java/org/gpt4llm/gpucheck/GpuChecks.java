package org.gpt4llm.gpucheck;

import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What bin/gpu-check runs on a GPU, and how each part reads in its table: the test classes (by the
 * surefire {@code -Dtest} pattern that selects them) and what each compares. The script asks for the
 * pattern ({@code gpt4llm gpu-check tests}); the report ({@link GpuCheckReport}) expects every
 * family below to have run.
 */
public final class GpuChecks {
    private GpuChecks() {}

    /**
     * A family of test classes. {@code pattern} is a surefire {@code -Dtest} entry: a class name with
     * {@code *} wildcards, optionally {@code #method} patterns; {@code name} is the table's name for one
     * of its classes, where {@code %s} stands for what the wildcard matched (NormContractTest under
     * {@code *ContractTest}: "Norm"). {@code needs}: what the family needs besides the GPU (a library
     * the machine may lack), or null; where it is missing every test of the family skips, and its line
     * says so and why without failing the check.
     */
    public record Tests(String pattern, String name, String compares, String needs) {
        public Tests(String pattern, String name, String compares) {
            this(pattern, name, compares, null);
        }

        /** The class-name part of the pattern as a regular expression over simple class names. */
        Pattern classes() {
            String cls = pattern.contains("#") ? pattern.substring(0, pattern.indexOf('#')) : pattern;
            return Pattern.compile(Pattern.quote(cls).replace("*", "\\E(.*)\\Q"));
        }

        boolean wildcard() {
            return pattern.substring(0, pattern.contains("#") ? pattern.indexOf('#') : pattern.length()).contains("*");
        }

        /** This family's table name for the class {@code simpleName}, or empty if the pattern does not select it. */
        Optional<String> nameOf(String simpleName) {
            var m = classes().matcher(simpleName);
            if (!m.matches()) return Optional.empty();
            return Optional.of(m.groupCount() > 0 ? String.format(name, m.group(1)) : name);
        }
    }

    /** Every test family of the check, in the table's order. */
    public static final List<Tests> TESTS = List.of(
            new Tests("*ContractTest", "contract %s", "the family through Backend vs libtorch (float64)"),
            new Tests("*LaunchTest", "launches %s", "launch variants vs each other; launchers' refusals"),
            new Tests("CudaDeviceTest", "device basics", "memory, shared-memory launch, cuBLAS vs float64, graph, OOM"),
            new Tests("CudaBackendsLlamaStepTest", "LLaMA training step",
                    "loss, logits, gradients, AdamW vs the cpu backend"),
            new Tests("CudaBackendsOptStepTest", "OPT training step",
                    "loss, logits, gradients, AdamW vs the cpu backend"),
            new Tests("CudaBackendsLoraTest", "LoRA step",
                    "LoRA forward/backward with dropout vs the cpu backend"),
            new Tests("CudaBackendsRewardModelTest", "reward-model step",
                    "rewards, pairwise loss, gradients vs the cpu backend"),
            new Tests("DecodeSessionTest#*OnCudaBackends*", "KV-cache decoding",
                    "decode logits vs the full forward (LLaMA, OPT)"),
            new Tests("CudaGraphStepTest", "graph capture and replay", "steps replayed from a captured graph vs eager ones"),
            new Tests("DeviceStepTest", "device step budget", "a warm step's launches, waits, copies vs its budget"),
            new Tests("NcclGpuTest", "NCCL collectives",
                    "all-reduce, reduce-scatter, all-gather, broadcast through NCCL on GPU 0 (F32, BF16) vs the input",
                    "libnccl.so.2"));

    /** What {@code bench kernels --backend cuda} is compared with, for its line. */
    public static final String BENCH_KERNELS = "each kernel timed alone; GEMM-shaped ones vs cuBLAS";
    /** What {@code bench step --backend cuda} measures, for its line. */
    public static final String BENCH_STEP = "one LLaMA training step (fwd, bwd, AdamW) timed";

    /** The surefire {@code -Dtest} value that runs every family. */
    public static String testPattern() {
        return TESTS.stream().map(Tests::pattern).collect(Collectors.joining(","));
    }

    /** The family that selects the class {@code simpleName}, if any. */
    static Optional<Tests> familyOf(String simpleName) {
        return TESTS.stream().filter(t -> t.nameOf(simpleName).isPresent()).findFirst();
    }
}
