package org.gpt4llm.backend.cuda.device;

import java.util.Map;
import java.util.Optional;

/**
 * Which CUDA release a PTX ISA version needs, and which Linux driver branch first supports a CUDA
 * release: what turns "PTX ISA 8.2" into "CUDA 12.2, driver R535". The driver JIT-compiles PTX only
 * of an ISA it knows, so a PTX image needs a driver at least as new as the release that introduced
 * its ISA (minor version compatibility covers cubins, never PTX).
 */
public final class CudaReleases {
    /** A major.minor version: of the PTX ISA or of a CUDA release. */
    public record Version(int major, int minor) implements Comparable<Version> {
        /** The CUDA release a driver supports, from cuDriverGetVersion's 1000 * major + 10 * minor (12020 = 12.2). */
        public static Version ofDriver(int driverVersion) {
            return new Version(driverVersion / 1000, driverVersion % 1000 / 10);
        }

        @Override
        public int compareTo(Version o) {
            return major != o.major ? Integer.compare(major, o.major) : Integer.compare(minor, o.minor);
        }

        public boolean olderThan(Version o) {
            return compareTo(o) < 0;
        }

        @Override
        public String toString() {
            return major + "." + minor;
        }
    }

    /** PTX ISA -> the CUDA release that introduced it (the PTX ISA manual's release history). */
    private static final Map<Version, Version> CUDA_OF_PTX_ISA = Map.ofEntries(
            entry(7, 0, 11, 0), entry(7, 1, 11, 1), entry(7, 2, 11, 2), entry(7, 3, 11, 3), entry(7, 4, 11, 4),
            entry(7, 5, 11, 5), entry(7, 6, 11, 6), entry(7, 7, 11, 7), entry(7, 8, 11, 8),
            entry(8, 0, 12, 0), entry(8, 1, 12, 1), entry(8, 2, 12, 2), entry(8, 3, 12, 3), entry(8, 4, 12, 4),
            entry(8, 5, 12, 5), entry(8, 6, 12, 7), entry(8, 7, 12, 8), entry(8, 8, 12, 9),
            entry(9, 0, 13, 0), entry(9, 1, 13, 1));

    /** CUDA release -> the first Linux driver branch that supports it (the CUDA toolkit release notes). */
    private static final Map<Version, Integer> DRIVER_BRANCH_OF_CUDA = Map.ofEntries(
            Map.entry(new Version(11, 0), 450), Map.entry(new Version(11, 1), 455), Map.entry(new Version(11, 2), 460),
            Map.entry(new Version(11, 3), 465), Map.entry(new Version(11, 4), 470), Map.entry(new Version(11, 5), 495),
            Map.entry(new Version(11, 6), 510), Map.entry(new Version(11, 7), 515), Map.entry(new Version(11, 8), 520),
            Map.entry(new Version(12, 0), 525), Map.entry(new Version(12, 1), 530), Map.entry(new Version(12, 2), 535),
            Map.entry(new Version(12, 3), 545), Map.entry(new Version(12, 4), 550), Map.entry(new Version(12, 5), 555),
            Map.entry(new Version(12, 6), 560), Map.entry(new Version(12, 7), 565), Map.entry(new Version(12, 8), 570),
            Map.entry(new Version(12, 9), 575), Map.entry(new Version(13, 0), 580));

    private CudaReleases() {}

    private static Map.Entry<Version, Version> entry(int isaMajor, int isaMinor, int cudaMajor, int cudaMinor) {
        return Map.entry(new Version(isaMajor, isaMinor), new Version(cudaMajor, cudaMinor));
    }

    /** The CUDA release whose driver can JIT-compile PTX of this ISA; empty for an ISA outside the table. */
    public static Optional<Version> cudaForPtxIsa(Version isa) {
        return Optional.ofNullable(CUDA_OF_PTX_ISA.get(isa));
    }

    /** "R535" for CUDA 12.2; empty for a release outside the table. */
    public static Optional<String> driverBranch(Version cuda) {
        return Optional.ofNullable(DRIVER_BRANCH_OF_CUDA.get(cuda)).map(b -> "R" + b);
    }

    /** "R535 or newer" for CUDA 12.2, or "one for CUDA 13.1 or newer" where the branch is not in the table. */
    public static String driverAdvice(Version cuda) {
        return driverBranch(cuda).map(b -> b + " or newer").orElse("one for CUDA " + cuda + " or newer");
    }
}
