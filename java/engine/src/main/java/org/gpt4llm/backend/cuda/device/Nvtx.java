package org.gpt4llm.backend.cuda.device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * NVTX ranges for the nsys timeline, through Panama. NVTX 3 is a header-only library, so a
 * language without the headers calls the exported functions of {@code libnvtx3interop.so.1}
 * (CUDA 12.8 and newer) or of the older {@code libnvToolsExt.so.1}; with neither present every
 * call is a no-op. Without a profiler attached, the library's functions return at once.
 */
public final class Nvtx {
    private static final String[] LIBRARIES = {"libnvtx3interop.so.1", "libnvToolsExt.so.1"};
    private static final MethodHandle PUSH;   // int nvtxRangePushA(const char*)
    private static final MethodHandle POP;    // int nvtxRangePop(void)
    private static final String LIBRARY;

    static {
        MethodHandle push = null, pop = null;
        String found = null;
        Linker linker = Linker.nativeLinker();
        for (String name : LIBRARIES) {
            try {
                SymbolLookup lib = SymbolLookup.libraryLookup(name, Arena.global());
                var p = lib.find("nvtxRangePushA");
                var q = lib.find("nvtxRangePop");
                if (p.isEmpty() || q.isEmpty()) continue;
                push = linker.downcallHandle(p.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
                pop = linker.downcallHandle(q.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
                found = name;
                break;
            } catch (IllegalArgumentException notOnThisMachine) {
                // try the next name
            }
        }
        PUSH = push;
        POP = pop;
        LIBRARY = found;
    }

    /** What push and pop return where neither library is present. */
    public static final int NO_LIBRARY = Integer.MIN_VALUE;

    private Nvtx() {}

    /** The library the ranges go to, or null when there is none. */
    public static String library() {
        return LIBRARY;
    }

    /**
     * Opens a range: the library's answer (the range's zero-based depth while a profiler records,
     * a negative value without one), or {@link #NO_LIBRARY}.
     */
    public static int push(String name) {
        if (PUSH == null) return NO_LIBRARY;
        try (Arena arena = Arena.ofConfined()) {
            return (int) PUSH.invokeExact(arena.allocateFrom(name));
        } catch (Throwable t) {
            throw new IllegalStateException("nvtxRangePushA failed: " + t, t);
        }
    }

    /** Closes the innermost range: the library's answer, or {@link #NO_LIBRARY}. */
    public static int pop() {
        if (POP == null) return NO_LIBRARY;
        try {
            return (int) POP.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("nvtxRangePop failed: " + t, t);
        }
    }
}
