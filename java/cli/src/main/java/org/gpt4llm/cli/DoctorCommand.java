package org.gpt4llm.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.gpt4llm.backend.cuda.device.CudaAvailability;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.backend.cuda.device.CudaException;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.backend.cuda.device.Fatbin;
import org.gpt4llm.backend.cuda.device.Nvtx;
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
        String isaCap = System.getenv(CpuKernels.ISA_VARIABLE);
        boolean nativeOk = probe("native", () -> NativeLibraries.locate(CpuKernels.LIBRARY) + " ("
                + CpuKernels.buildInfo() + "; " + CpuKernels.simdPath() + " path"
                + (isaCap == null ? "" : " (" + CpuKernels.ISA_VARIABLE + "=" + isaCap + ")") + ", "
                + CpuKernels.getNumThreads() + " OpenMP threads)");
        boolean blasOk = probe("blas", () -> OpenBlas.describe() + ", " + OpenBlas.getNumThreads() + " threads");
        probe("libtorch", () -> {
            org.gpt4llm.reference.Torch.setThreads(1);
            return "org.bytedeco:pytorch loaded (CPU), the oracle of the tests and the peer of `gpt4llm bench`";
        });
        line("cuda", CudaAvailability.driverStatus());
        line("cublas", CudaAvailability.cublasStatus());
        line("nvcc", findOnPath("nvcc").map(p -> p + " (kernels/ can be compiled)").orElse("not found"));
        line("fatbin", fatbinStatus());
        line("nccl", org.gpt4llm.distributed.nccl.Nccl.describe()
                + (org.gpt4llm.distributed.nccl.Nccl.find().isPresent() ? " (--backend cuda --gpus N, --nnodes M)" : ""));
        line("nvtx", Nvtx.library() == null ? "no NVTX library: profiler ranges are off" : Nvtx.library() + " (ranges for nsys)");
        line("backend cpu", nativeOk && blasOk ? "available" : "unavailable (see above)");
        line("backend cuda", cudaDevice());
        boolean emuOk = probe("cuda emulation", () -> {
            EmuDevice.workerThreads();   // loads the library
            return NativeLibraries.locate(EmuDevice.LIBRARY) + " (kernels/*.cu on the CPU; `bench kernels --backend cuda-emu`)";
        });
        line("backend cuda-emu", emuOk && blasOk ? "available (CudaBackend on the emulated device; slow, for checking the GPU path)"
                : "unavailable (see above)");
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
            line(what, "UNAVAILABLE: " + Main.initializerCause(t).getMessage());
            return false;
        }
    }

    /** What the fatbin holds and which driver it needs, read from the file itself: no GPU or toolkit needed. */
    private static String fatbinStatus() {
        Path file;
        try {
            file = NativeLibraries.locate(CudaDevice.FATBIN);
        } catch (NativeLibraries.NativeLibraryException e) {
            return "not in this build (nvcc was not found when it was built)";
        }
        try {
            Fatbin kernels = CudaDevice.kernels();
            return file + ": " + kernels.contents() + "; needs " + kernels.driverRequirement();
        } catch (CudaException e) {
            return "UNREADABLE: " + e.getMessage();
        }
    }

    /** Opens GPU 0 when the libraries are there: the only way to know that it really works. */
    private static String cudaDevice() {
        try (CudaDevice d = CudaDevice.open(0)) {
            return "GPU 0 opened: " + d.describe() + ", driver for CUDA " + d.driverCuda() + "; kernels: " + d.kernelImage();
        } catch (CudaException | LinkageError e) {
            return "unavailable: " + e.getMessage();
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
