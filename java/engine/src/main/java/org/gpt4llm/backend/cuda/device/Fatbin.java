package org.gpt4llm.backend.cuda.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.backend.cuda.device.CudaReleases.Version;

/**
 * A CUDA fat binary read from its container format, so that what it needs (the PTX ISA, hence the
 * driver; the architectures, hence the GPU) can be checked before the driver is handed it, on
 * machines that have the driver but no toolkit (no cuobjdump). The layout, little-endian, as
 * nvcc's fatbinary writes it (NVIDIA does not document it; public readers agree on it):
 * <pre>
 *   container header, 16 bytes: u32 magic 0xBA55ED50, u16 version 1, u16 header size (16),
 *                               u64 bytes of entries that follow
 *   per image, an entry header of at least 64 bytes, then its payload:
 *     0 u16 kind (1 PTX, 2 ELF cubin)   4 u32 entry header size     8 u64 payload size (padded to 8)
 *    16 u32 compressed size            24 u16 minor, 26 u16 major (PTX: the ISA; ELF: the ABI)
 *    28 u32 arch (80 = sm_80 / compute_80)                         40 u64 flags
 *    56 u64 decompressed size
 * </pre>
 * Flags: 0x2000 = payload compressed with LZ4's block format (CUDA 11 and 12), 0x8000 = compressed
 * with zstd (what CUDA 13's fatbinary does to PTX by default), which is recognised but not
 * decompressed here: the project's own fatbin is written uncompressed.
 */
public final class Fatbin {
    public static final int MAGIC = 0xBA55ED50;
    static final int CONTAINER_HEADER_BYTES = 16;
    static final int ENTRY_HEADER_BYTES = 64;
    static final int KIND_PTX = 1, KIND_ELF = 2;
    static final long FLAG_64BIT = 0x1, FLAG_LINUX = 0x10, FLAG_LZ4 = 0x2000, FLAG_ZSTD = 0x8000;
    private static final Pattern PTX_VERSION = Pattern.compile("^\\s*\\.version\\s+(\\d+)\\.(\\d+)\\s*$", Pattern.MULTILINE);
    private static final Pattern PTX_TARGET = Pattern.compile("^\\s*\\.target\\s+(\\w+)", Pattern.MULTILINE);

    public enum Kind { PTX, CUBIN, OTHER }

    public enum Compression { NONE, LZ4, ZSTD }

    /**
     * One image of the container: a cubin for sm_{arch} or PTX for compute_{arch}. {@code version} is
     * the entry header's: the PTX ISA of PTX, the ELF ABI of a cubin (1.7 up to CUDA 12, 1.8 from
     * CUDA 13's ptxas, which drivers before R570 may not load). {@code stored} is the payload as
     * stored: compressed, or plain and zero-padded to 8 bytes, for the container does not record a
     * plain image's exact length (a cubin's ELF header has it, PTX ends at its NUL).
     */
    public record Image(Kind kind, int arch, Version version, Compression compression, byte[] stored, long size) {
        /** sm_90 for a cubin, compute_80 for PTX. */
        public String archName() {
            return (kind == Kind.PTX ? "compute_" : "sm_") + arch;
        }

        /** The payload decompressed; fails with one sentence for zstd, which this reader does not decode. */
        public byte[] content() {
            return switch (compression) {
                case NONE -> stored;
                case LZ4 -> Lz4Block.decompress(stored, Math.toIntExact(size), archName());
                case ZSTD -> throw new IllegalArgumentException("the " + archName() + " image is zstd-compressed, which "
                        + "this reader cannot decode; build the fatbin with fatbinary --compress=false");
            };
        }

        public boolean readable() {
            return compression != Compression.ZSTD;
        }

        /** PTX source: the content up to its terminating NUL. */
        public String ptxText() {
            if (kind != Kind.PTX) throw new IllegalStateException(archName() + " is not PTX");
            byte[] c = content();
            int end = 0;
            while (end < c.length && c[end] != 0) end++;
            return new String(c, 0, end, StandardCharsets.UTF_8);
        }

        /** Runs on a GPU of this capability without a JIT: same major, minor not above the GPU's. */
        boolean runsOn(int ccMajor, int ccMinor) {
            return kind == Kind.CUBIN && arch / 10 == ccMajor && arch % 10 <= ccMinor;
        }
    }

    private final String source;
    private final byte[] bytes;
    private final List<Image> images;

    private Fatbin(String source, byte[] bytes, List<Image> images) {
        this.source = source;
        this.bytes = bytes;
        this.images = List.copyOf(images);
    }

    public static Fatbin read(Path file) throws IOException {
        return read(Files.readAllBytes(file), file.toString());
    }

    /** Parses one container; a malformed one fails with one sentence naming {@code source} and the offset. */
    public static Fatbin read(byte[] bytes, String source) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < CONTAINER_HEADER_BYTES || b.getInt(0) != MAGIC) {
            throw malformed(source, 0, "it does not start with the fatbin magic 0xBA55ED50");
        }
        int version = Short.toUnsignedInt(b.getShort(4));
        int headerBytes = Short.toUnsignedInt(b.getShort(6));
        long entriesBytes = b.getLong(8);
        if (version != 1) throw malformed(source, 4, "container version " + version + ", this reader knows version 1");
        if (headerBytes < CONTAINER_HEADER_BYTES) throw malformed(source, 6, "container header of " + headerBytes + " bytes");
        long end = headerBytes + entriesBytes;
        if (entriesBytes < 0 || end > bytes.length) {
            throw malformed(source, 8, "its entries claim " + entriesBytes + " bytes but the file ends at " + bytes.length);
        }
        for (long i = end; i < bytes.length; i++) {
            if (bytes[(int) i] != 0) throw malformed(source, i, "bytes follow the container");
        }
        List<Image> images = new ArrayList<>();
        long at = headerBytes;
        while (at < end) {
            if (end - at < ENTRY_HEADER_BYTES) throw malformed(source, at, "a truncated entry header");
            int e = (int) at;
            int kind = Short.toUnsignedInt(b.getShort(e));
            long entryHeader = Integer.toUnsignedLong(b.getInt(e + 4));
            long payload = b.getLong(e + 8);
            long compressedBytes = Integer.toUnsignedLong(b.getInt(e + 16));
            Version v = new Version(Short.toUnsignedInt(b.getShort(e + 26)), Short.toUnsignedInt(b.getShort(e + 24)));
            int arch = b.getInt(e + 28);
            long flags = b.getLong(e + 40);
            long decompressedBytes = b.getLong(e + 56);
            if (entryHeader < ENTRY_HEADER_BYTES || payload < 0 || entryHeader + payload > end - at) {
                throw malformed(source, at, "an entry of " + entryHeader + " + " + payload + " bytes past the container's end");
            }
            Compression compression = (flags & FLAG_ZSTD) != 0 ? Compression.ZSTD
                    : (flags & FLAG_LZ4) != 0 ? Compression.LZ4 : Compression.NONE;
            long storedBytes = compression == Compression.NONE ? payload : compressedBytes;
            if (storedBytes > payload) {
                throw malformed(source, at + 16, "a compressed size of " + storedBytes + " bytes in a payload of " + payload);
            }
            int from = (int) (at + entryHeader);
            byte[] stored = Arrays.copyOfRange(bytes, from, from + (int) storedBytes);
            long size = compression == Compression.NONE ? payload : decompressedBytes;
            Kind k = kind == KIND_PTX ? Kind.PTX : kind == KIND_ELF ? Kind.CUBIN : Kind.OTHER;
            images.add(new Image(k, arch, v, compression, stored, size));
            at += entryHeader + payload;
        }
        return new Fatbin(source, bytes.clone(), images);
    }

    private static IllegalArgumentException malformed(String source, long offset, String what) {
        return new IllegalArgumentException(source + " is not a readable CUDA fatbin: " + what + " (at byte " + offset + ")");
    }

    public String source() {
        return source;
    }

    /** The container as read, for cuModuleLoadData. */
    public byte[] bytes() {
        return bytes.clone();
    }

    public List<Image> images() {
        return images;
    }

    /** Architectures of the cubins, ascending: [80, 90]. */
    public List<Integer> cubinArchs() {
        return images.stream().filter(i -> i.kind() == Kind.CUBIN).map(Image::arch).distinct().sorted().toList();
    }

    /** The PTX for the lowest virtual architecture: the image any newer GPU can JIT-compile. */
    public Optional<Image> ptx() {
        return images.stream().filter(i -> i.kind() == Kind.PTX).min(Comparator.comparingInt(Image::arch));
    }

    /** The PTX's ISA: its {@code .version} directive where the text is readable, else the entry header's. */
    public Optional<Version> ptxIsa() {
        return ptx().map(p -> p.readable() ? declaredVersion(p.ptxText()).orElse(p.version()) : p.version());
    }

    /** The CUDA release whose driver can JIT the PTX; empty without PTX or for an ISA outside the table. */
    public Optional<Version> requiredCuda() {
        return ptxIsa().flatMap(CudaReleases::cudaForPtxIsa);
    }

    /** The cubin the driver picks for a GPU of this capability: the newest of its major version not above it. */
    public Optional<Image> cubinFor(int ccMajor, int ccMinor) {
        return images.stream().filter(i -> i.runsOn(ccMajor, ccMinor)).max(Comparator.comparingInt(Image::arch));
    }

    /** "sm_80 and sm_90 cubins, compute_80 PTX of ISA 8.2". */
    public String contents() {
        List<Integer> archs = cubinArchs();
        String cubins = archs.isEmpty() ? "no cubins"
                : and(archs.stream().map(a -> "sm_" + a).toList()) + (archs.size() == 1 ? " cubin" : " cubins");
        return cubins + ", " + ptx().map(p -> p.archName() + " PTX of ISA " + ptxIsa().orElseThrow()).orElse("no PTX");
    }

    /** "an NVIDIA driver for CUDA 12.2 or newer (R535+)", or what is known without PTX. */
    public String driverRequirement() {
        return requiredCuda().map(c -> "an NVIDIA driver for CUDA " + c + " or newer"
                        + CudaReleases.driverBranch(c).map(b -> " (" + b + "+)").orElse(""))
                .orElse(ptx().isEmpty() ? "a driver that loads its cubins (no PTX to JIT-compile)"
                        : "a driver that knows PTX ISA " + ptxIsa().orElseThrow());
    }

    /**
     * Why these kernels cannot run on {@code device} (e.g. "device 0 is NVIDIA A100 (sm_80, 79.2 GiB)")
     * of compute capability ccMajor.ccMinor under a driver for CUDA {@code driver}; empty when they
     * can. A GPU without a cubin of its own needs the PTX, and the PTX needs a driver that knows its ISA.
     */
    public Optional<String> refusal(Version driver, int ccMajor, int ccMinor, String device) {
        Optional<Image> ptx = ptx();
        boolean ptxFits = ptx.isPresent() && ptx.get().arch() <= ccMajor * 10 + ccMinor;
        if (cubinFor(ccMajor, ccMinor).isEmpty() && !ptxFits) {
            // with PTX, every capability from the lowest image up runs (a cubin covers its major version)
            int lowest = images.stream().filter(i -> i.kind() != Kind.OTHER).mapToInt(Image::arch).min().orElseThrow();
            String need = ptx.isPresent() ? "compute capability " + lowest / 10 + "." + lowest % 10 + " or newer"
                    : "one of " + and(cubinArchs().stream().map(a -> "sm_" + a).toList());
            return Optional.of(device + ", of compute capability " + ccMajor + "." + ccMinor + "; gpt4llm's kernels need "
                    + need + " (bf16 tensor cores; the fatbin holds " + contents() + "): use --backend cpu");
        }
        Optional<Version> cuda = requiredCuda();
        if (cuda.isPresent() && driver.olderThan(cuda.get())) {
            return Optional.of("the NVIDIA driver supports CUDA " + driver + "; gpt4llm's kernels need CUDA " + cuda.get()
                    + " (PTX ISA " + ptxIsa().orElseThrow() + "): update the driver to " + CudaReleases.driverAdvice(cuda.get()));
        }
        return Optional.empty();
    }

    /**
     * The PTX alone, NUL-terminated for cuModuleLoadData, where this driver can JIT-compile it for
     * this GPU: what to load when the driver refuses the whole fatbin (cubins of a newer ELF ABI).
     */
    public Optional<byte[]> ptxFallback(Version driver, int ccMajor, int ccMinor) {
        return ptx().filter(p -> p.readable() && p.arch() <= ccMajor * 10 + ccMinor
                        && requiredCuda().map(c -> !driver.olderThan(c)).orElse(true))
                .map(p -> (p.ptxText() + "\0").getBytes(StandardCharsets.UTF_8));
    }

    /** The {@code .version} directive of PTX source. */
    public static Optional<Version> declaredVersion(String ptx) {
        Matcher m = PTX_VERSION.matcher(ptx);
        return m.find() ? Optional.of(new Version(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)))) : Optional.empty();
    }

    /** The {@code .target} directive of PTX source: "sm_80". */
    public static Optional<String> declaredTarget(String ptx) {
        Matcher m = PTX_TARGET.matcher(ptx);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    private static String and(List<String> items) {
        if (items.size() <= 1) return String.join("", items);
        return String.join(", ", items.subList(0, items.size() - 1)) + " and " + items.getLast();
    }

    /**
     * LZ4's block format, as older fatbinary versions compress PTX: tokens of (literal length,
     * match length - 4) nibbles, 15 extended by following bytes, literals, then a 2-byte offset
     * back into the output; the last sequence has literals only.
     */
    static final class Lz4Block {
        private Lz4Block() {}

        static byte[] decompress(byte[] src, int size, String what) {
            byte[] out = new byte[size];
            int in = 0, o = 0;
            try {
                while (in < src.length) {
                    int token = src[in++] & 0xff;
                    int literals = token >>> 4;
                    if (literals == 15) {
                        int more;
                        do {
                            more = src[in++] & 0xff;
                            literals += more;
                        } while (more == 255);
                    }
                    System.arraycopy(src, in, out, o, literals);
                    in += literals;
                    o += literals;
                    if (in >= src.length) break;
                    int offset = (src[in] & 0xff) | (src[in + 1] & 0xff) << 8;
                    in += 2;
                    int match = (token & 15) + 4;
                    if ((token & 15) == 15) {
                        int more;
                        do {
                            more = src[in++] & 0xff;
                            match += more;
                        } while (more == 255);
                    }
                    if (offset == 0 || offset > o) throw new IllegalArgumentException("offset " + offset + " at output byte " + o);
                    for (int i = 0; i < match; i++, o++) out[o] = out[o - offset];   // may overlap: byte by byte
                }
            } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
                throw new IllegalArgumentException("the compressed " + what + " image is corrupt (" + e.getMessage() + ")");
            }
            if (o != size) {
                throw new IllegalArgumentException("the compressed " + what + " image decompresses to " + o + " bytes, its header says " + size);
            }
            return out;
        }
    }
}
