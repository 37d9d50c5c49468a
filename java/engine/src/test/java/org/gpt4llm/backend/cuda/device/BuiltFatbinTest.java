package org.gpt4llm.backend.cuda.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;
import org.gpt4llm.backend.cuda.device.CudaReleases.Version;
import org.gpt4llm.nativelib.NativeLibraries;
import org.junit.jupiter.api.Test;

/**
 * The fatbin this build produced (CMake makes it whenever nvcc exists), read with the same reader
 * CudaDevice checks it with before loading: cubins for sm_80 and sm_90, and compute_80 PTX of an
 * ISA that CUDA 12.2 drivers (R535) can JIT-compile. No GPU needed.
 */
class BuiltFatbinTest {
    private static final Version R535 = new Version(12, 2);
    private static final int EM_CUDA = 190;

    private static Fatbin built() {
        boolean present = BuiltFatbinTest.class.getClassLoader()
                .getResource("native/" + NativeLibraries.PLATFORM + "/" + CudaDevice.FATBIN) != null;
        assumeTrue(present, "this build has no " + CudaDevice.FATBIN + ": nvcc was not found when CMake ran, so there "
                + "are no CUDA kernels to check");
        return CudaDevice.kernels();
    }

    @Test
    void holdsSm80AndSm90CubinsAndCompute80Ptx() {
        Fatbin f = built();
        assertEquals(List.of(80, 90), f.cubinArchs(), f.contents());
        for (Fatbin.Image cubin : f.images().stream().filter(i -> i.kind() == Fatbin.Kind.CUBIN).toList()) {
            ByteBuffer elf = ByteBuffer.wrap(cubin.content()).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x464c457f, elf.getInt(0), cubin.archName() + " is not an ELF file");
            assertEquals(EM_CUDA, Short.toUnsignedInt(elf.getShort(18)), cubin.archName() + " is not a CUDA ELF");
        }
        Fatbin.Image ptx = f.ptx().orElseThrow(() -> new AssertionError("no PTX in " + f.contents()));
        assertEquals(80, ptx.arch());
        assertEquals(Optional.of("sm_80"), Fatbin.declaredTarget(ptx.ptxText()));
        assertTrue(ptx.ptxText().contains(".entry rmsnorm_forward"), "the PTX lacks the kernels");
    }

    /** Uncompressed, and the header's ISA agrees with the text's, which is what the driver's JIT reads. */
    @Test
    void itsPtxIsaIsOneThatR535DriversJit() {
        Fatbin f = built();
        Fatbin.Image ptx = f.ptx().orElseThrow();
        assertEquals(Fatbin.Compression.NONE, ptx.compression(), "a compressed PTX image may be unreadable by old drivers");
        Version isa = Fatbin.declaredVersion(ptx.ptxText()).orElseThrow(() -> new AssertionError("no .version in the PTX"));
        assertEquals(isa, ptx.version(), "the entry header and the PTX text disagree on the ISA");
        assertFalse(isa.compareTo(new Version(8, 2)) > 0, "PTX ISA " + isa + " needs a newer driver than R535");
        Version cuda = f.requiredCuda().orElseThrow();
        assertFalse(R535.olderThan(cuda), "the fatbin needs CUDA " + cuda);
        assertEquals(Optional.empty(), f.refusal(R535, 9, 0, "an H100"));
        assertEquals(Optional.empty(), f.refusal(R535, 8, 0, "an A100"));
        assertTrue(f.ptxFallback(R535, 9, 0).isPresent(), "an R535 driver could not fall back to the PTX");
        assertTrue(f.driverRequirement().startsWith("an NVIDIA driver for CUDA " + cuda + " or newer"), f.driverRequirement());
    }
}
