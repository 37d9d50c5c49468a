package org.gpt4llm.gguf;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Writes GGUF files (v2 or v3, little-endian) for tests, laid out as in {@link GgufFile}'s header
 * comment: metadata values are given with their GGUF value type, tensors as raw bytes.
 */
final class GgufWriter {
    static final int U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
            U64 = 10, I64 = 11, F64 = 12;

    /** An array value: elements of one GGUF type (arrays of arrays hold {@code Array}s). */
    record Array(int elementType, List<?> elements) {}

    private record Entry(String key, int type, Object value) {}

    private record TensorData(String name, long[] ne, int ggmlType, byte[] data) {}

    private final List<Entry> metadata = new ArrayList<>();
    private final List<TensorData> tensors = new ArrayList<>();

    GgufWriter put(String key, int type, Object value) {
        metadata.add(new Entry(key, type, value));
        return this;
    }

    /** A tensor with dimensions {@code ne} (innermost first) and its bytes as stored. */
    GgufWriter tensor(String name, int ggmlType, long[] ne, byte[] data) {
        tensors.add(new TensorData(name, ne, ggmlType, data));
        return this;
    }

    /** Stores tensor {@code name} (same dimensions, same place) in {@code ggmlType} with {@code data}. */
    GgufWriter replaceTensor(String name, int ggmlType, byte[] data) {
        for (int i = 0; i < tensors.size(); i++) {
            TensorData t = tensors.get(i);
            if (t.name().equals(name)) tensors.set(i, new TensorData(name, t.ne(), ggmlType, data));
        }
        return this;
    }

    /** Writes the file; tensor data is placed at multiples of {@code alignment} (which general.alignment must state if not 32). */
    void write(Path file, int version, int alignment) throws IOException {
        Out out = new Out();
        out.bytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        out.u32(version);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Entry e : metadata) {
            out.string(e.key());
            out.u32(e.type());
            out.value(e.type(), e.value());
        }
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (TensorData t : tensors) {
            out.string(t.name());
            out.u32(t.ne().length);
            for (long d : t.ne()) out.u64(d);
            out.u32(t.ggmlType());
            out.u64(offset);
            offsets.add(offset);
            offset = GgufFile.alignUp(offset + t.data().length, alignment);
        }
        out.pad(alignment);
        long dataStart = out.size();
        for (int i = 0; i < tensors.size(); i++) {
            while (out.size() < dataStart + offsets.get(i)) out.u8(0);
            out.bytes(tensors.get(i).data());
        }
        Files.write(file, out.toByteArray());
    }

    /** Little-endian bytes of {@code values}, as F32 tensor data. */
    static byte[] f32(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return b.array();
    }

    /** {@code values} as stored in {@code ggmlType} (F32, F16 or BF16, rounded to nearest even), little-endian. */
    static byte[] encode(float[] values, int ggmlType) {
        if (ggmlType == GgmlType.F32) return f32(values);
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        try (Arena arena = Arena.ofConfined()) {
            DType type = ggmlType == GgmlType.F16 ? DType.F16 : DType.BF16;
            Tensor narrow = Checkpoint.fromF32(Tensor.of(arena, values, values.length), type, arena);
            for (int i = 0; i < values.length; i++) b.putShort(narrow.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i));
        }
        return b.array();
    }

    /** The exact float values of F16 or BF16 data: the half's value, or the bfloat's bits as the upper half of a float. */
    static float[] widen(byte[] data, int ggmlType) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[data.length / 2];
        for (int i = 0; i < out.length; i++) {
            short h = b.getShort();
            out[i] = ggmlType == GgmlType.F16 ? Float.float16ToFloat(h) : Float.intBitsToFloat((h & 0xffff) << 16);
        }
        return out;
    }

    private static final class Out extends ByteArrayOutputStream {
        void u8(int v) {
            write(v);
        }

        void u16(int v) {
            u8(v & 0xff);
            u8((v >>> 8) & 0xff);
        }

        void u32(int v) {
            u16(v & 0xffff);
            u16(v >>> 16);
        }

        void u64(long v) {
            u32((int) v);
            u32((int) (v >>> 32));
        }

        void bytes(byte[] b) {
            write(b, 0, b.length);
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            bytes(b);
        }

        void pad(int alignment) {
            while (size() % alignment != 0) u8(0);
        }

        void value(int type, Object v) {
            switch (type) {
                case U8, I8, BOOL -> u8(type == BOOL ? ((Boolean) v ? 1 : 0) : ((Number) v).intValue());
                case U16, I16 -> u16(((Number) v).intValue());
                case U32, I32 -> u32(((Number) v).intValue());
                case F32 -> u32(Float.floatToRawIntBits(((Number) v).floatValue()));
                case STRING -> string((String) v);
                case ARRAY -> {
                    Array a = (Array) v;
                    u32(a.elementType());
                    u64(a.elements().size());
                    for (Object e : a.elements()) value(a.elementType(), e);
                }
                case U64, I64 -> u64(((Number) v).longValue());
                case F64 -> u64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
                default -> throw new IllegalArgumentException("GGUF value type " + type);
            }
        }
    }
}
