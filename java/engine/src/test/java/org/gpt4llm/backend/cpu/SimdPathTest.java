package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.gpt4llm.backend.cpu.CpuKernels.SimdPath;
import org.junit.jupiter.api.Test;

/**
 * The choice of the CPU kernels' SIMD path against the CPU's flags as Linux reports them: the best
 * path by default, each one when forced (AVX-512 and AVX512_BF16 emulated exactly where the CPU lacks
 * them), and back to the best afterwards. The contract tests force each path in turn and rely on this.
 * {@code GPT4LLM_CPU_ISA} caps the default path; it is read once per process, so a child JVM shows it.
 */
class SimdPathTest {
    private static Set<String> cpuFlags() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("flags")) return Set.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
        }
        throw new IllegalStateException("/proc/cpuinfo has no flags line");
    }

    private static SimdPath best(Set<String> flags) {
        boolean avx512 = bestWithoutAvx512(flags) == SimdPath.AVX2 && flags.contains("avx512f") && flags.contains("f16c");
        if (avx512 && flags.contains("avx512_bf16")) return SimdPath.AVX512_BF16;
        if (avx512) return SimdPath.AVX512;
        return bestWithoutAvx512(flags);
    }

    /** AVX2 where the CPU has it (with FMA), else scalar: a path forced below the best runs natively. */
    private static SimdPath bestWithoutAvx512(Set<String> flags) {
        return flags.contains("avx2") && flags.contains("fma") ? SimdPath.AVX2 : SimdPath.SCALAR;
    }

    /** The default path: the best the CPU has, capped where this process was started with GPT4LLM_CPU_ISA. */
    private static SimdPath expectedDefault(Set<String> flags, String isa) {
        SimdPath best = best(flags), cap = SimdPath.cap(CpuKernels.ISA_VARIABLE, isa);
        return cap == null || cap.compareTo(best) >= 0 ? best : cap;
    }

    @Test
    void theDefaultIsTheBestPathTheCpuHas() throws IOException {
        assertEquals(expectedDefault(cpuFlags(), System.getenv(CpuKernels.ISA_VARIABLE)), CpuKernels.simdPath());
        assertFalse(CpuKernels.avx512Emulated(), "the default path is never emulated");
    }

    @Test
    void eachPathRunsWhenForcedAndAvx512IsEmulatedOnlyWithoutTheCpus() throws IOException {
        Set<String> flags = cpuFlags();
        try {
            for (SimdPath p : SimdPath.values()) {
                if (p.compareTo(SimdPath.AVX2) >= 0 && !flags.contains("avx2")) continue;  // cannot run: refused
                CpuKernels.forceSimdPath(p);
                assertEquals(p, CpuKernels.simdPath());
                boolean emulated = switch (p) {
                    case AVX512 -> !flags.contains("avx512f");
                    case AVX512_BF16 -> !flags.contains("avx512f") || !flags.contains("avx512_bf16");
                    default -> false;
                };
                assertEquals(emulated, CpuKernels.avx512Emulated(), p.name());
            }
        } finally {
            CpuKernels.forceSimdPath(null);
        }
        assertEquals(expectedDefault(flags, System.getenv(CpuKernels.ISA_VARIABLE)), CpuKernels.simdPath());
    }

    @Test
    void theIsaVariableCapsTheDefaultPathAndOnlyIt() throws Exception {
        Set<String> flags = cpuFlags();
        for (String isa : new String[] {"scalar", "AVX2", "avx512", "avx512_bf16"}) {
            SimdPath expected = expectedDefault(flags, isa);
            assertEquals(expected.name() + " " + expected.name() + " " + bestWithoutAvx512(flags).name(),
                    child(isa), "GPT4LLM_CPU_ISA=" + isa + ": the default, the default again after forcing, a forced path");
        }
        assertEquals("GPT4LLM_CPU_ISA=avx3 names no SIMD path of the CPU kernels: give scalar, avx2, avx512 or avx512_bf16",
                child("avx3"));
    }

    /**
     * What a JVM started with GPT4LLM_CPU_ISA={@code isa} prints: its default path; the path after forcing
     * the CPU's best and returning to the default; AVX2 (scalar without it) forced, which the cap does not hold
     * back. Or the message of the kernels' refused set-up.
     */
    private static String child(String isa) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), SimdPathTest.class.getName()).redirectErrorStream(true);
        pb.environment().put(CpuKernels.ISA_VARIABLE, isa);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor() == 0, "the child JVM failed: " + out);
        return out.lines().reduce((a, b) -> b).orElse("");
    }

    public static void main(String[] args) throws IOException {
        SimdPath first;
        try {
            first = CpuKernels.simdPath();
        } catch (ExceptionInInitializerError e) {
            System.out.println(e.getCause().getMessage());
            return;
        }
        Set<String> flags = cpuFlags();
        CpuKernels.forceSimdPath(best(flags));
        CpuKernels.forceSimdPath(null);
        SimdPath again = CpuKernels.simdPath();
        CpuKernels.forceSimdPath(bestWithoutAvx512(flags));
        System.out.println(first.name() + " " + again.name() + " " + CpuKernels.simdPath().name());
    }
}
