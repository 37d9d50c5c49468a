package org.gpt4llm.nativelib;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.gpt4llm.datagen.files.AtomicWrite;

/**
 * Finds the project's native libraries without any environment variable: in the build tree they are
 * plain files on the class path ({@code target/classes/native/linux-x86_64/}); inside a jar they are
 * extracted once into a per-content cache folder ({@code ~/.cache/gpt4llm/native/<sha>/}).
 */
public final class NativeLibraries {
    public static final String PLATFORM = "linux-x86_64";
    private static final Linker LINKER = Linker.nativeLinker();

    private NativeLibraries() {}

    /** Resolves a resource under {@code native/<platform>/} to a file on disk, or explains why not. */
    public static Path locate(String fileName) {
        String resource = "native/" + PLATFORM + "/" + fileName;
        URL url = NativeLibraries.class.getClassLoader().getResource(resource);
        if (url == null) {
            throw new NativeLibraryException("the native file " + resource + " is not on the class path: "
                    + "build the project with `mvn -DskipTests package` (CMake builds native/) first");
        }
        try {
            if ("file".equals(url.getProtocol())) return Path.of(url.toURI());
            try (InputStream in = url.openStream()) {
                byte[] bytes = in.readAllBytes();
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)).substring(0, 16);
                Path dir = Path.of(System.getProperty("user.home"), ".cache", "gpt4llm", "native", sha);
                Path target = dir.resolve(fileName);
                if (!Files.isRegularFile(target) || Files.size(target) != bytes.length) {
                    AtomicWrite.write(target, "extract", bytes);
                }
                return target;
            }
        } catch (IOException | URISyntaxException | java.security.NoSuchAlgorithmException e) {
            throw new NativeLibraryException("cannot extract " + resource + ": " + e.getMessage(), e);
        }
    }

    static {
        quietIdleThreads();
    }

    /**
     * Makes sure this class's initializer has set the idle behaviour of the thread pools in our process
     * (once, unless the user chose): each library reads its variable as it loads, so libraries loaded
     * by other means (OpenBLAS through JavaCPP) call this first. The body is empty on purpose.
     */
    public static void prepareEnvironment() {}

    /**
     * Our kernels' OpenMP workers share the cores with OpenBLAS's own threads and the JVM: spinning
     * between the many short parallel regions of a forward pass (libgomp's default) starves the others,
     * which made small-model decoding an order of magnitude slower on 2 cores. Sleeping instead costs
     * microseconds per region. Likewise OpenBLAS's workers spin for 2^28 cycles (~0.1 s) after each
     * multi-threaded GEMM: after a prefill they took a core from the decode steps that follow, which
     * never call OpenBLAS. In a training step they took it from our kernels between the GEMMs (attention,
     * norms, cross-entropy) for as long as they spun: 2^19 cycles (~0.2 ms) spans back-to-back GEMMs and a
     * prefill's short kernels, and made the step of {@code bench step --preset small} 5 points of sgemm
     * faster than 2^22 (~1.5 ms) did (docs/bench.md).
     */
    private static void quietIdleThreads() {
        try (Arena arena = Arena.ofConfined()) {
            var setenv = LINKER.defaultLookup().find("setenv");
            if (setenv.isEmpty()) return;
            MethodHandle h = LINKER.downcallHandle(setenv.get(), FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT,
                    java.lang.foreign.ValueLayout.ADDRESS, java.lang.foreign.ValueLayout.ADDRESS, java.lang.foreign.ValueLayout.JAVA_INT));
            int unused = (int) h.invokeExact(arena.allocateFrom("OMP_WAIT_POLICY"), arena.allocateFrom("passive"), 0);
            unused = (int) h.invokeExact(arena.allocateFrom("OPENBLAS_THREAD_TIMEOUT"), arena.allocateFrom("19"), 0);
        } catch (Throwable e) {
            // only a performance default: without it the kernels still run
        }
    }

    /** Opens a shared library for the life of the JVM. */
    public static SymbolLookup open(Path library) {
        try {
            return SymbolLookup.libraryLookup(library, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new NativeLibraryException("cannot load " + library + ": " + e.getMessage(), e);
        }
    }

    /**
     * A downcall handle for {@code name}. A symbol the library lacks (a stale build) yields a handle
     * that fails when called, naming the library and symbol, so the functions that exist stay usable.
     */
    public static MethodHandle function(SymbolLookup lookup, String libraryName, String name, FunctionDescriptor fd) {
        var symbol = lookup.find(name);
        if (symbol.isPresent()) return LINKER.downcallHandle(symbol.get(), fd);
        MethodType type = fd.toMethodType();
        MethodHandle thrower = MethodHandles.throwException(type.returnType(), NativeLibraryException.class)
                .bindTo(new NativeLibraryException(libraryName + " has no symbol " + name
                        + ": rebuild it with `mvn -DskipTests package`"));
        return MethodHandles.dropArguments(thrower, 0, type.parameterList());
    }

    /** Thrown when a native library cannot be found or loaded; the message says what to do. */
    public static final class NativeLibraryException extends RuntimeException {
        public NativeLibraryException(String message) {
            super(message);
        }

        public NativeLibraryException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
