package org.gpt4llm.nativelib;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.gpt4llm.backend.cpu.OpenBlas;
import org.junit.jupiter.api.Test;

/** The idle policy of the thread pools: set in the process environment before the libraries read it. */
class NativeLibrariesTest {
    /** The process's own environment (System.getenv is a copy taken at start-up and misses setenv). */
    private static String nativeGetenv(String name) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle getenv = linker.downcallHandle(linker.defaultLookup().find("getenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = (MemorySegment) getenv.invokeExact(arena.allocateFrom(name));
            return value.equals(MemorySegment.NULL) ? null : value.reinterpret(64).getString(0);
        }
    }

    @Test
    void openBlasAndOpenMpWorkersSleepWhenIdleUnlessTheUserChose() throws Throwable {
        OpenBlas.getNumThreads(); // loads OpenBLAS, which prepares the environment first
        String timeout = System.getenv("OPENBLAS_THREAD_TIMEOUT"), policy = System.getenv("OMP_WAIT_POLICY");
        assertEquals(timeout != null ? timeout : "19", nativeGetenv("OPENBLAS_THREAD_TIMEOUT"));
        assertEquals(policy != null ? policy : "passive", nativeGetenv("OMP_WAIT_POLICY"));
    }
}
