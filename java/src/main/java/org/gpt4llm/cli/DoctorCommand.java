package org.gpt4llm.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.gpt4llm.nativelib.NativeLibraries;
import picocli.CommandLine.Command;

/** Prints what this machine offers the engine, and for anything missing, why. */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "Show what is available: JDK, native library, BLAS, libtorch, CUDA, backends.")
public final class DoctorCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        Runtime rt = Runtime.getRuntime();
        line("jdk", System.getProperty("java.vm.vendor") + " " + Runtime.version() + " at " + System.getProperty("java.home"));
        line("machine", System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
                + rt.availableProcessors() + " processors, max heap " + rt.maxMemory() / (1 << 20) + " MiB");
        boolean nativeOk = probe("native", () -> NativeLibraries.locate(CpuKernels.LIBRARY) + " ("
                + CpuKernels.buildInfo() + "; " + (CpuKernels.simdLevel() > 0 ? "AVX2/FMA" : "scalar") + " path, "
                + CpuKernels.getNumThreads() + " OpenMP threads)");
        boolean blasOk = probe("blas", () -> OpenBlas.describe() + ", " + OpenBlas.getNumThreads() + " threads");
        probe("libtorch", () -> {
            org.gpt4llm.peer.Torch.setThreads(1);
            return "org.bytedeco:pytorch loaded (CPU), the oracle of the tests and the peer of `gpt4llm bench`";
        });
        String cuda = cudaStatus();
        line("cuda", cuda);
        line("nvcc", findOnPath("nvcc").map(p -> p + " (kernels/ can be compiled)").orElse("not found"));
        line("backend cpu", nativeOk && blasOk ? "available" : "unavailable (see above)");
        line("backend cuda", cuda.startsWith("driver found") ? "driver present; the CUDA backend is not part of this build yet"
                : "unavailable: " + cuda);
        line("backend cuda-emu", "not part of this build yet");
        return nativeOk && blasOk ? 0 : 1;
    }

    private static void line(String what, String status) {
        System.out.printf(Locale.ROOT, "%-17s %s%n", what, status);
    }

    private static boolean probe(String what, Supplier<String> check) {
        try {
            line(what, check.get());
            return true;
        } catch (Throwable t) {
            line(what, "UNAVAILABLE: " + t.getMessage());
            return false;
        }
    }

    /** JCuda cannot load without the driver library, so look for it before anything touches CUDA. */
    static String cudaStatus() {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup("libcuda.so.1", arena);
            return "driver found (libcuda.so.1)";
        } catch (IllegalArgumentException e) {
            return "no NVIDIA driver: libcuda.so.1 cannot be loaded on this machine";
        }
    }

    private static java.util.Optional<Path> findOnPath(String exe) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, exe);
            if (Files.isExecutable(p)) return java.util.Optional.of(p);
        }
        Path cuda = Path.of("/usr/local/cuda/bin", exe);
        return Files.isExecutable(cuda) ? java.util.Optional.of(cuda) : java.util.Optional.empty();
    }
}
