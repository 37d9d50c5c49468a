package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.gpt4llm.backend.cpu.CpuKernels.SimdPath;
import org.junit.jupiter.api.Test;

/**
 * The choice of the CPU kernels' SIMD path against the CPU's flags as Linux reports them: the best
 * path by default, each one when forced (AVX-512 and AVX512_BF16 emulated exactly where the CPU lacks
 * them), and back to the best afterwards. The contract tests force each path in turn and rely on this.
 */
class SimdPathTest {
    private static Set<String> cpuFlags() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("flags")) return Set.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
        }
        throw new IllegalStateException("/proc/cpuinfo has no flags line");
    }

    private static SimdPath best(Set<String> flags) {
        boolean avx2 = flags.contains("avx2") && flags.contains("fma");
        boolean avx512 = avx2 && flags.contains("avx512f") && flags.contains("f16c");
        if (avx512 && flags.contains("avx512_bf16")) return SimdPath.AVX512_BF16;
        if (avx512) return SimdPath.AVX512;
        return avx2 ? SimdPath.AVX2 : SimdPath.SCALAR;
    }

    @Test
    void theDefaultIsTheBestPathTheCpuHas() throws IOException {
        assertEquals(best(cpuFlags()), CpuKernels.simdPath());
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
        assertEquals(best(flags), CpuKernels.simdPath());
    }
}
