package org.gpt4llm.runtime;

import java.util.List;
import java.util.Locale;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.tensor.DType;

/** The backends a {@code --backend} flag can name. */
public final class Backends {
    /** The names {@link #open} takes, in any case. */
    public static final List<String> NAMES = List.of("cpu", "cuda", "cuda-emu");

    private Backends() {}

    /**
     * {@code name} unchanged where {@link #open} takes it, else the one sentence a bad {@code --backend}
     * gets: for a command that passes the name on before anything opens it.
     */
    public static String checkName(String name) {
        if (!NAMES.contains(name.toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException("--backend " + name + " is not cpu, cuda or cuda-emu");
        }
        return name;
    }

    /**
     * Opens {@code cpu} (with {@code threads} threads), {@code cuda} (GPU 0; refuses with one sentence
     * where there is no NVIDIA driver or cuBLAS) or {@code cuda-emu} (the CUDA kernels in the CPU emulation,
     * its blocks on {@code threads} worker threads).
     */
    public static Backend open(String name, int threads) {
        return open(name, threads, 0);
    }

    /** {@link #open(String, int)} with {@code cuda} on GPU {@code device} (data parallelism opens one per device). */
    public static Backend open(String name, int threads, int device) {
        return open(name, threads, device, null);
    }

    /**
     * {@link #open(String, int, int)} keeping the model's weights in {@code weights} (F32, BF16 or F16 on the
     * cpu; BF16 on cuda, which keeps no other), or in the backend's own type where null.
     */
    public static Backend open(String name, int threads, int device, DType weights) {
        String n = checkName(name).toLowerCase(Locale.ROOT);
        if (!n.equals("cpu")) checkGpuWeights(n, weights); // before a device is opened
        return switch (n) {
            case "cpu" -> new CpuBackend(threads, weights == null ? DType.F32 : weights);
            case "cuda" -> new CudaBackend(CudaDevice.open(device));
            case "cuda-emu" -> new CudaBackend(new EmuDevice(threads));
            default -> throw new IllegalStateException("a name of NAMES without a backend: " + name);
        };
    }

    /**
     * {@code backend} keeping the weights of the models made on it in {@code weights}: on the cpu a view
     * with the same threads and memory ledger ({@link CpuBackend#withWeightType}); a GPU backend itself,
     * which keeps bf16 and no other type.
     */
    public static Backend withWeightType(Backend backend, DType weights) {
        if (backend instanceof CpuBackend cpu) return cpu.withWeightType(weights);
        checkGpuWeights(backend.name(), weights);
        return backend;
    }

    private static void checkGpuWeights(String name, DType weights) {
        if (weights != null && weights != DType.BF16) {
            throw new IllegalArgumentException("--dtype " + weights.name().toLowerCase(Locale.ROOT) + ": the " + name
                    + " backend keeps its weights in bf16 (with fp32 master weights where they train)");
        }
    }
}
