package org.gpt4llm.backend.cuda.device;

import java.lang.foreign.MemorySegment;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.gpt4llm.tensor.Tensor;

/**
 * How our values reach JCuda's driver calls. JCuda hands a native function the {@code Pointer}'s
 * native pointer plus its byte offset, so a pointer built with native pointer 0 and the address as
 * its offset is that address: device memory stays a plain {@code long} on our side (the address of
 * a tensor's segment) and host memory any native segment, with no JCuda object kept per allocation.
 */
final class JCudaArgs {
    private JCudaArgs() {}

    /** cuMemAlloc's result; the subclass reads the address JCuda keeps in a protected field. */
    static final class Allocation extends CUdeviceptr {
        long address() {
            return getNativePointer();
        }
    }

    /** cuMemHostAlloc's result: the host address JCuda keeps as the pointer's native pointer. */
    static final class HostAllocation extends Pointer {
        long address() {
            return getNativePointer();
        }
    }

    /** The device pointer at {@code address}. */
    static CUdeviceptr ptr(long address) {
        return new CUdeviceptr().withByteOffset(address);
    }

    static CUdeviceptr ptr(Tensor t) {
        return ptr(t.data().address());
    }

    /** A host pointer to native memory (heap segments are staged off-heap by the caller). */
    static Pointer hostPtr(MemorySegment host) {
        return new Pointer().withByteOffset(host.address());
    }

    /**
     * cuLaunchKernel's kernelParams: one pointer per kernel parameter, to a value of the parameter's
     * type. A Tensor or MemorySegment passes its address as a 64-bit pointer ({@link Device#NULL} for
     * NULL), Integer an int, Long a long long, Float a float; the checks match EmuDevice's.
     */
    static Pointer kernelParams(String name, Object... args) {
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case null -> throw new IllegalArgumentException("kernel " + name + ": argument " + i
                        + " is null (pass Device.NULL for a NULL pointer)");
                case Tensor t -> Pointer.to(new long[] {t.data().address()});
                case MemorySegment s -> Pointer.to(new long[] {s.address()});
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("argument " + i + " of kernel " + name + " is a "
                        + args[i].getClass().getSimpleName() + ": kernels take Tensor, MemorySegment, Integer, Long or Float");
            };
        }
        return Pointer.to(params);
    }
}
