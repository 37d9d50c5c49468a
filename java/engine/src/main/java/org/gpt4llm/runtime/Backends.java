package org.gpt4llm.runtime;

import java.util.Locale;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.backend.Backend;

/** The backends a {@code --backend} flag can name. */
public final class Backends {
    private Backends() {}

    /**
     * Opens {@code cpu} (with {@code threads} threads), {@code cuda} (GPU 0; refuses with one sentence
     * where there is no NVIDIA driver or cuBLAS) or {@code cuda-emu} (the CUDA kernels in the CPU emulation).
     */
    public static Backend open(String name, int threads) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu" -> new CpuBackend(threads);
            case "cuda" -> new CudaBackend(CudaDevice.open(0));
            case "cuda-emu" -> new CudaBackend(new EmuDevice());
            default -> throw new IllegalArgumentException("--backend " + name + " is not cpu, cuda or cuda-emu");
        };
    }
}
