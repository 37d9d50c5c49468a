package org.gpt4llm.distributed.nccl;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.tensor.DType;

/**
 * NCCL's C API (nccl.h, NCCL 2.x) bound through Panama against the machine's {@code libnccl.so.2}.
 *
 * <p>Why not {@code org.bytedeco:cuda}'s {@code global.nccl}: in its 13.x releases the NCCL JNI inherits
 * the cudart preset and so links {@code libcudart.so.13} (CUDA 13, driver R580+), while the rest of the
 * runtime here is CUDA 12 (JCuda, cuBLAS 12); the two cudarts do not load into one process on a CUDA 12
 * machine. NCCL itself needs only the driver, and its API is a dozen C functions, so they are bound here
 * directly, against whichever NCCL 2 the machine has.
 */
public final class Nccl {
    /** The file name the loader looks for. */
    public static final String LIBRARY = "libnccl.so.2";
    /** NCCL_UNIQUE_ID_BYTES: a unique id is an opaque struct of 128 chars, passed by value. */
    public static final int UNIQUE_ID_BYTES = 128;
    public static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, ValueLayout.JAVA_BYTE).withName("internal")).withName("ncclUniqueId");

    // ncclResult_t
    public static final int SUCCESS = 0, IN_PROGRESS = 7;
    // ncclDataType_t
    public static final int FLOAT16 = 6, FLOAT32 = 7, BFLOAT16 = 9;
    // ncclRedOp_t
    public static final int SUM = 0, AVG = 4;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong SIZE_T = ValueLayout.JAVA_LONG;
    private static final ValueLayout PTR = ValueLayout.ADDRESS;

    /** The descriptors of the functions bound, by name, as nccl.h declares them. */
    static final java.util.Map<String, FunctionDescriptor> FUNCTIONS = java.util.Map.ofEntries(
            java.util.Map.entry("ncclGetVersion", FunctionDescriptor.of(INT, PTR)),
            java.util.Map.entry("ncclGetUniqueId", FunctionDescriptor.of(INT, PTR)),
            java.util.Map.entry("ncclCommInitRank", FunctionDescriptor.of(INT, PTR, INT, UNIQUE_ID, INT)),
            java.util.Map.entry("ncclAllReduce", FunctionDescriptor.of(INT, PTR, PTR, SIZE_T, INT, INT, PTR, PTR)),
            java.util.Map.entry("ncclReduceScatter", FunctionDescriptor.of(INT, PTR, PTR, SIZE_T, INT, INT, PTR, PTR)),
            java.util.Map.entry("ncclAllGather", FunctionDescriptor.of(INT, PTR, PTR, SIZE_T, INT, PTR, PTR)),
            java.util.Map.entry("ncclBroadcast", FunctionDescriptor.of(INT, PTR, PTR, SIZE_T, INT, INT, PTR, PTR)),
            java.util.Map.entry("ncclGroupStart", FunctionDescriptor.of(INT)),
            java.util.Map.entry("ncclGroupEnd", FunctionDescriptor.of(INT)),
            java.util.Map.entry("ncclCommGetAsyncError", FunctionDescriptor.of(INT, PTR, PTR)),
            java.util.Map.entry("ncclCommAbort", FunctionDescriptor.of(INT, PTR)),
            java.util.Map.entry("ncclCommDestroy", FunctionDescriptor.of(INT, PTR)),
            java.util.Map.entry("ncclGetErrorString", FunctionDescriptor.of(PTR, INT)));

    private static volatile Nccl loaded;

    final MethodHandle getVersion, getUniqueId, commInitRank, allReduce, reduceScatter, allGather, broadcast,
            groupStart, groupEnd, commGetAsyncError, commAbort, commDestroy, getErrorString;

    private Nccl(SymbolLookup lib) {
        getVersion = bind(lib, "ncclGetVersion");
        getUniqueId = bind(lib, "ncclGetUniqueId");
        commInitRank = bind(lib, "ncclCommInitRank");
        allReduce = bind(lib, "ncclAllReduce");
        reduceScatter = bind(lib, "ncclReduceScatter");
        allGather = bind(lib, "ncclAllGather");
        broadcast = bind(lib, "ncclBroadcast");
        groupStart = bind(lib, "ncclGroupStart");
        groupEnd = bind(lib, "ncclGroupEnd");
        commGetAsyncError = bind(lib, "ncclCommGetAsyncError");
        commAbort = bind(lib, "ncclCommAbort");
        commDestroy = bind(lib, "ncclCommDestroy");
        getErrorString = bind(lib, "ncclGetErrorString");
    }

    private static MethodHandle bind(SymbolLookup lib, String name) {
        MemorySegment f = lib.find(name).orElseThrow(() -> new CommunicatorException(LIBRARY + " has no " + name
                + ": it is not NCCL 2.12 or newer"));
        return Linker.nativeLinker().downcallHandle(f, FUNCTIONS.get(name));
    }

    /** NCCL, loaded once; refuses with one sentence where {@code libnccl.so.2} cannot be loaded. */
    public static Nccl load() {
        Nccl n = loaded;
        if (n != null) return n;
        synchronized (Nccl.class) {
            if (loaded == null) {
                SymbolLookup lib;
                try {
                    lib = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
                } catch (IllegalArgumentException e) {
                    throw new CommunicatorException(notFound());
                }
                loaded = new Nccl(lib);
            }
            return loaded;
        }
    }

    /** The sentence a missing NCCL gets. */
    static String notFound() {
        return "NCCL was not found: " + LIBRARY + " is not on the library path (install NCCL 2 for CUDA 12, e.g. the"
                + " libnccl2 package or the nvidia-nccl-cu12 wheel, and add its lib folder to LD_LIBRARY_PATH)";
    }

    /** "NCCL 2.21.5", or why there is none: for {@code gpt4llm doctor}. */
    public static String describe() {
        try {
            return "NCCL " + load().version();
        } catch (CommunicatorException e) {
            return e.getMessage();
        }
    }

    /** Whether NCCL loads here, without saying why not. */
    public static Optional<Nccl> find() {
        try {
            return Optional.of(load());
        } catch (CommunicatorException e) {
            return Optional.empty();
        }
    }

    /** The library's version, e.g. "2.21.5" (ncclGetVersion). */
    public String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(INT);
            check((int) getVersion.invokeExact(v), "ncclGetVersion");
            return versionString(v.get(INT, 0));
        } catch (CommunicatorException e) {
            throw e;
        } catch (Throwable t) {
            throw new CommunicatorException("ncclGetVersion failed: " + t, t);
        }
    }

    /**
     * NCCL_VERSION_CODE as text: since 2.9 the code is major·10000 + minor·100 + patch, before that
     * major·1000 + minor·100 + patch.
     */
    static String versionString(int code) {
        if (code >= 20900) return code / 10000 + "." + code / 100 % 100 + "." + code % 100;
        return code / 1000 + "." + code / 100 % 10 + "." + code % 100;
    }

    /** The ncclDataType_t of a tensor type. */
    static int dataType(DType t) {
        return switch (t) {
            case F32 -> FLOAT32;
            case BF16 -> BFLOAT16;
            case F16 -> FLOAT16;
            default -> throw new IllegalArgumentException("NCCL collectives here move F32, BF16 or F16 tensors, not " + t);
        };
    }

    /** Throws a sentence naming {@code what} and the error, unless {@code result} is ncclSuccess. */
    void check(int result, String what) {
        if (result == SUCCESS) return;
        throw new CommunicatorException(what + " failed: " + errorText(result));
    }

    /** ncclResult_t as NCCL words it, with the code. */
    String errorText(int result) {
        String s;
        try {
            MemorySegment p = (MemorySegment) getErrorString.invokeExact(result);
            s = p.equals(MemorySegment.NULL) ? null : p.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            s = null;
        }
        return (s == null ? resultName(result) : s) + " (ncclResult " + result + ")";
    }

    /** The name of an ncclResult_t, for when the library cannot word it. */
    static String resultName(int result) {
        return switch (result) {
            case 0 -> "no error";
            case 1 -> "unhandled cuda error";
            case 2 -> "unhandled system error";
            case 3 -> "internal error";
            case 4 -> "invalid argument";
            case 5 -> "invalid usage";
            case 6 -> "remote process exited or there was a network error";
            case 7 -> "operation in progress";
            default -> "unknown NCCL result";
        };
    }
}
