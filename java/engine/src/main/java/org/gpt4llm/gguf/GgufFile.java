package org.gpt4llm.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * A llama.cpp GGUF file (format versions 2 and 3, little-endian), memory-mapped. All integers are
 * little-endian; a string is a uint64 byte length and UTF-8 bytes.
 *
 * <pre>
 *   "GGUF" | uint32 version | uint64 tensor_count | uint64 metadata_kv_count
 *   metadata_kv_count × (string key | uint32 value_type | value)
 *       value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte), 8 string,
 *                    9 array (uint32 element_type | uint64 count | count values), 10 u64, 11 i64, 12 f64
 *   tensor_count × (string name | uint32 n_dims | n_dims × uint64 ne | uint32 ggml_type | uint64 offset)
 *   zero padding up to a multiple of general.alignment (default 32): the data section starts here
 *   tensor data, each tensor at data start + its offset (a multiple of the alignment)
 * </pre>
 *
 * The dimensions ne are listed innermost first: a matrix with ne = [cols, rows] is stored row-major
 * as [rows, cols], the shape {@link #toF32} gives it. Metadata values come back as Java objects:
 * integers of every width as {@code Long}, f32 as {@code Float}, f64 as {@code Double}, bools as
 * {@code Boolean}, strings as {@code String} and arrays as {@code List}.
 */
public final class GgufFile {
    public static final int DEFAULT_ALIGNMENT = 32;
    /** "GGUF" read as a little-endian uint32. */
    static final int MAGIC = 0x46554747;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One entry of the tensor directory: ne innermost first, its ggml type, offset from the data start. */
    public record TensorEntry(String name, long[] ne, int ggmlType, long offset) {
        /** The row-major shape (ne reversed), as HF and {@link Tensor} write it. */
        public long[] shape() {
            long[] s = new long[ne.length];
            for (int i = 0; i < ne.length; i++) s[i] = ne[ne.length - 1 - i];
            return s;
        }

        public long numel() {
            return Tensor.numel(ne);
        }
    }

    private final Path file;
    private final MemorySegment bytes;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, TensorEntry> tensors;
    private final long alignment;
    private final long dataStart;

    private GgufFile(Path file, MemorySegment bytes, int version, Map<String, Object> metadata,
                     Map<String, TensorEntry> tensors, long alignment, long dataStart) {
        this.file = file;
        this.bytes = bytes;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.alignment = alignment;
        this.dataStart = dataStart;
    }

    /** Maps {@code file} into {@code arena} and parses its header; any problem is one {@link CheckpointException}. */
    public static GgufFile open(Path file, Arena arena) {
        if (Files.isDirectory(file)) throw new CheckpointException(file + ": is a directory, not a GGUF file");
        MemorySegment bytes;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            bytes = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new CheckpointException(file + ": permission denied", e);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot be read (" + FileErrors.reason(e) + ")", e);
        }
        return new Parser(file, bytes).parse();
    }

    public Path file() {
        return file;
    }

    public int version() {
        return version;
    }

    /** Metadata in file order. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** The tensor directory in file order. */
    public Map<String, TensorEntry> tensors() {
        return tensors;
    }

    public long alignment() {
        return alignment;
    }

    /** Byte offset of the data section in the file. */
    public long dataStart() {
        return dataStart;
    }

    /** A string value, or null when the key is absent; another type is an error naming the key. */
    public String string(String key) {
        Object v = metadata.get(key);
        if (v == null || v instanceof String) return (String) v;
        throw wrongType(key, v, "a string");
    }

    /** An integer value (any integer width), or {@code fallback} when the key is absent. */
    public long integer(String key, long fallback) {
        Object v = metadata.get(key);
        if (v == null) return fallback;
        if (v instanceof Long l) return l;
        throw wrongType(key, v, "an integer");
    }

    /** A non-negative integer that fits an int, which must be present. */
    public int requiredCount(String key) {
        if (!metadata.containsKey(key)) throw new CheckpointException(file + ": metadata key " + key + " is missing");
        return count(key, 0);
    }

    /** A non-negative integer that fits an int, or {@code fallback} when absent. */
    public int count(String key, int fallback) {
        long v = integer(key, fallback);
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new CheckpointException(file + ": metadata key " + key + " is " + v + ", out of range");
        }
        return (int) v;
    }

    /** A float value (f32 or f64), or {@code fallback} when the key is absent. */
    public double real(String key, double fallback) {
        Object v = metadata.get(key);
        if (v == null) return fallback;
        if (v instanceof Float f) return f;
        if (v instanceof Double d) return d;
        throw wrongType(key, v, "a float");
    }

    /** An array value whose elements are all {@code type}, or null when the key is absent. */
    public <T> List<T> array(String key, Class<T> type) {
        Object v = metadata.get(key);
        if (v == null) return null;
        if (!(v instanceof List<?> list)) throw wrongType(key, v, "an array");
        for (Object e : list) {
            if (!type.isInstance(e)) {
                throw new CheckpointException(file + ": metadata key " + key + " holds " + typeName(e)
                        + " elements where " + type.getSimpleName() + " elements are expected");
            }
        }
        @SuppressWarnings("unchecked")
        List<T> out = (List<T>) list;
        return out;
    }

    private CheckpointException wrongType(String key, Object v, String expected) {
        return new CheckpointException(file + ": metadata key " + key + " is " + typeName(v) + ", not " + expected);
    }

    private static String typeName(Object v) {
        return switch (v) {
            case Long l -> "an integer";
            case Float f -> "a float";
            case Double d -> "a float";
            case Boolean b -> "a bool";
            case String s -> "a string";
            case List<?> l -> "an array";
            default -> v.getClass().getSimpleName();
        };
    }

    /**
     * Tensor {@code name} as F32 in its row-major shape: F32 data is a view of the mapping (no
     * copy), F16 and BF16 are widened into {@code arena}. Any other ggml type is an error naming the
     * tensor and the type.
     */
    public Tensor toF32(String name, Arena arena) {
        TensorEntry t = tensors.get(name);
        if (t == null) throw new CheckpointException(file + ": has no tensor " + name);
        DType stored = GgmlType.dtype(t.ggmlType());
        if (stored == null) throw new CheckpointException(unsupportedType(t));
        Tensor view = Tensor.wrap(bytes.asSlice(dataStart + t.offset(), t.numel() * stored.bytes()), stored, t.shape());
        return stored == DType.F32 ? view : Checkpoint.toF32(view, arena);
    }

    /** The error for a tensor in a ggml type this importer cannot read (quantised ones). */
    public String unsupportedType(TensorEntry t) {
        return file + ": tensor " + t.name() + " is stored as " + GgmlType.name(t.ggmlType())
                + ", and only F32, F16 and BF16 tensors can be imported (quantised GGUF files cannot)";
    }

    /** Reads the header, metadata and tensor directory, checking every length against the file's size. */
    private static final class Parser {
        private final Path file;
        private final MemorySegment bytes;
        private long pos;
        /** What is being read, for error messages. */
        private String reading = "the header";

        Parser(Path file, MemorySegment bytes) {
            this.file = file;
            this.bytes = bytes;
        }

        GgufFile parse() {
            need(4);
            if (bytes.get(U32, 0) != MAGIC) {
                throw new CheckpointException(file + ": is not a GGUF file (it does not start with \"GGUF\")");
            }
            pos = 4;
            int version = u32();
            if (version != 2 && version != 3) {
                String why = Integer.reverseBytes(version) >= 1 && Integer.reverseBytes(version) <= 3
                        ? "big-endian GGUF files are not supported" : version == 1
                        ? "version 1 files are not supported; convert the model again with a current llama.cpp"
                        : "only versions 2 and 3 are supported";
                throw new CheckpointException(file + ": is GGUF version " + version + ", and " + why);
            }
            long tensorCount = u64(), kvCount = u64();
            // each entry takes at least 12 (kv) or 24 (tensor) bytes: catches absurd counts before allocating
            if (kvCount < 0 || kvCount > remaining() / 12 || tensorCount < 0 || tensorCount > remaining() / 24) {
                throw new CheckpointException(file + ": claims " + tensorCount + " tensors and " + kvCount
                        + " metadata entries, more than its " + bytes.byteSize() + " bytes can hold");
            }
            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                reading = "metadata entry " + i;
                String key = string();
                reading = "metadata key " + key;
                Object value = value(u32(), 0);
                if (metadata.put(key, value) != null) {
                    throw new CheckpointException(file + ": metadata key " + key + " appears twice");
                }
            }
            long alignment = DEFAULT_ALIGNMENT;
            Object a = metadata.get("general.alignment");
            if (a != null) {
                if (!(a instanceof Long l) || l <= 0 || l % 8 != 0 || l > (1 << 30)) {
                    throw new CheckpointException(file + ": general.alignment is " + a + ", not a positive multiple of 8");
                }
                alignment = l;
            }
            List<TensorEntry> entries = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                reading = "tensor entry " + i;
                String name = string();
                reading = "tensor " + name;
                int nDims = u32();
                if (nDims < 1 || nDims > 4) {
                    throw new CheckpointException(file + ": tensor " + name + " has " + Integer.toUnsignedString(nDims)
                            + " dimensions, not 1 to 4");
                }
                long[] ne = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    ne[d] = u64();
                    if (ne[d] <= 0 || ne[d] > (1L << 40)) {
                        throw new CheckpointException(file + ": tensor " + name + " has dimension " + Long.toUnsignedString(ne[d]));
                    }
                }
                entries.add(new TensorEntry(name, ne, u32(), u64()));
            }
            long dataStart = alignUp(pos, alignment);
            Map<String, TensorEntry> tensors = new LinkedHashMap<>();
            for (TensorEntry t : entries) {
                if (tensors.put(t.name(), t) != null) {
                    throw new CheckpointException(file + ": tensor " + t.name() + " appears twice");
                }
                checkPlacement(t, alignment, dataStart);
            }
            return new GgufFile(file, bytes, version, metadata, tensors, alignment, dataStart);
        }

        /** A tensor's offset is aligned and (for types whose size is known) its data lies inside the file. */
        private void checkPlacement(TensorEntry t, long alignment, long dataStart) {
            if (t.offset() < 0 || t.offset() % alignment != 0) {
                throw new CheckpointException(file + ": tensor " + t.name() + " has offset " + Long.toUnsignedString(t.offset())
                        + ", not a multiple of the alignment " + alignment);
            }
            DType d = GgmlType.dtype(t.ggmlType());
            if (d == null) return; // a quantised type: reported when the tensor is read
            long end;
            try {
                end = Math.addExact(Math.addExact(dataStart, t.offset()), Math.multiplyExact(Tensor.numel(t.ne()), d.bytes()));
            } catch (ArithmeticException e) {
                end = Long.MAX_VALUE;
            }
            if (end > bytes.byteSize()) {
                throw new CheckpointException(file + ": tensor " + t.name() + " " + GgmlType.name(t.ggmlType())
                        + Arrays.toString(t.shape()) + " at offset " + t.offset() + " runs past the end of the file ("
                        + bytes.byteSize() + " bytes); the file is truncated");
            }
        }

        /** A value of GGUF type {@code type}; arrays nest at most a few levels deep. */
        private Object value(int type, int depth) {
            return switch (type) {
                case 0 -> (long) u8();
                case 1 -> (long) (byte) u8();
                case 2 -> (long) (u16() & 0xffff);
                case 3 -> (long) u16();
                case 4 -> u32() & 0xffffffffL;
                case 5 -> (long) u32();
                case 6 -> f32();
                case 7 -> {
                    int b = u8();
                    if (b > 1) throw new CheckpointException(file + ": " + reading + " has bool value " + b + ", not 0 or 1");
                    yield b == 1;
                }
                case 8 -> string();
                case 9 -> {
                    if (depth >= 4) throw new CheckpointException(file + ": " + reading + " nests arrays too deeply");
                    int elementType = u32();
                    long count = u64();
                    if (count < 0 || count > remaining()) { // every element takes at least one byte
                        throw new CheckpointException(file + ": " + reading + " claims an array of "
                                + Long.toUnsignedString(count) + " elements, more than the file holds");
                    }
                    List<Object> list = new ArrayList<>((int) count);
                    for (long i = 0; i < count; i++) list.add(value(elementType, depth + 1));
                    yield list;
                }
                case 10, 11 -> u64();
                case 12 -> f64();
                default -> throw new CheckpointException(file + ": " + reading + " has unknown value type "
                        + Integer.toUnsignedString(type) + " at byte " + pos);
            };
        }

        private String string() {
            long len = u64();
            if (len < 0 || len > remaining()) {
                throw new CheckpointException(file + ": " + reading + " has a string of " + Long.toUnsignedString(len)
                        + " bytes at byte " + (pos - 8) + ", past the end of the file; the file is truncated or corrupt");
            }
            byte[] b = bytes.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(b, StandardCharsets.UTF_8);
        }

        private int u8() {
            need(1);
            return bytes.get(ValueLayout.JAVA_BYTE, pos++) & 0xff;
        }

        private short u16() {
            need(2);
            short v = bytes.get(U16, pos);
            pos += 2;
            return v;
        }

        private int u32() {
            need(4);
            int v = bytes.get(U32, pos);
            pos += 4;
            return v;
        }

        private long u64() {
            need(8);
            long v = bytes.get(U64, pos);
            pos += 8;
            return v;
        }

        private float f32() {
            need(4);
            float v = bytes.get(F32, pos);
            pos += 4;
            return v;
        }

        private double f64() {
            need(8);
            double v = bytes.get(F64, pos);
            pos += 8;
            return v;
        }

        private long remaining() {
            return bytes.byteSize() - pos;
        }

        private void need(long n) {
            if (remaining() < n) {
                throw new CheckpointException(file + ": ends at byte " + bytes.byteSize() + " in the middle of "
                        + reading + "; the file is truncated or not a GGUF file");
            }
        }
    }

    static long alignUp(long x, long alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }
}
