package org.gpt4llm.backend.cuda.device;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.Optional;

/**
 * The two libraries the cuda backend cannot run without, asked of the dynamic linker with the JDK
 * alone, so that a script can ask before anything is built: {@code java
 * --enable-native-access=ALL-UNNAMED CudaLibraries.java} (a source-file program) prints what is
 * missing and exits with 1, or prints nothing and exits with 0 (bin/gpu-check does this first).
 * {@link CudaAvailability} gives the same answers to the engine.
 */
public final class CudaLibraries {
    /** The NVIDIA driver, which JCuda's JNI libraries link against. */
    public static final String DRIVER = "libcuda.so.1";
    /** cuBLAS of CUDA 12, which JCublas2 12.6 is built for. */
    public static final String CUBLAS = "libcublas.so.12";

    private CudaLibraries() {}

    /** What keeps the cuda backend from running on this machine, as a clause, or empty where both libraries load. */
    public static Optional<String> missing() {
        if (!canLoad(DRIVER)) return Optional.of("the NVIDIA driver " + DRIVER + " cannot be loaded on this machine");
        if (!canLoad(CUBLAS)) return Optional.of("cuBLAS of CUDA 12 (" + CUBLAS + ") cannot be loaded on this machine");
        return Optional.empty();
    }

    /**
     * Whether the dynamic linker finds and loads {@code library} (LD_LIBRARY_PATH, the ldconfig cache:
     * the search JCuda's own loading uses). The library stays open for the life of the JVM: JCuda loads
     * the very same one next, and unloading the driver while anything may reference it is not worth the risk.
     */
    static boolean canLoad(String library) {
        try {
            SymbolLookup.libraryLookup(library, Arena.global());
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    public static void main(String[] args) {
        Optional<String> missing = missing();
        if (missing.isPresent()) {
            System.out.println(missing.get());
            System.exit(1);
        }
    }
}
