package org.gpt4llm.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A dense row-major tensor over a {@link MemorySegment}. The segment is owned by an {@link Arena}
 * chosen by whoever allocated it (the model's parameter arena, an activation arena, a file mapping);
 * a tensor never frees memory itself. Views share the segment.
 */
public final class Tensor {
    private final DType dtype;
    private final long[] shape;
    private final MemorySegment data;

    private Tensor(DType dtype, long[] shape, MemorySegment data) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data;
        long need = numel(shape) * dtype.bytes();
        if (data.byteSize() != need) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes cannot hold "
                    + dtype + Arrays.toString(shape) + " (" + need + " bytes)");
        }
    }

    /** A zero-filled tensor owned by {@code arena}, 64-byte aligned for SIMD kernels. */
    public static Tensor allocate(Arena arena, DType dtype, long... shape) {
        return new Tensor(dtype, shape, arena.allocate(numel(shape) * dtype.bytes(), 64));
    }

    public static Tensor wrap(MemorySegment data, DType dtype, long... shape) {
        return new Tensor(dtype, shape, data);
    }

    public static Tensor of(Arena arena, float[] values, long... shape) {
        Tensor t = allocate(arena, DType.F32, shape);
        MemorySegment.copy(values, 0, t.data, ValueLayout.JAVA_FLOAT, 0, values.length);
        return t;
    }

    public static Tensor ofInts(Arena arena, int[] values, long... shape) {
        Tensor t = allocate(arena, DType.I32, shape);
        MemorySegment.copy(values, 0, t.data, ValueLayout.JAVA_INT, 0, values.length);
        return t;
    }

    public static long numel(long... shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public long numel() {
        return numel(shape);
    }

    public long byteSize() {
        return data.byteSize();
    }

    public MemorySegment data() {
        return data;
    }

    /** The same memory seen with another shape of equal element count. */
    public Tensor view(long... newShape) {
        if (numel(newShape) != numel()) {
            throw new IllegalArgumentException("cannot view " + Arrays.toString(shape) + " as " + Arrays.toString(newShape));
        }
        return new Tensor(dtype, newShape, data);
    }

    /** Rows {@code [start, start+count)} along dimension 0, sharing memory. */
    public Tensor rows(long start, long count) {
        long rowElems = numel() / shape[0];
        long[] s = shape.clone();
        s[0] = count;
        long bytes = rowElems * dtype.bytes();
        return new Tensor(dtype, s, data.asSlice(start * bytes, count * bytes));
    }

    /** Element {@code i} (flat index) as a float, converting F16/BF16. */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            case BF16 -> Float.intBitsToFloat((data.getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.getAtIndex(ValueLayout.JAVA_SHORT, i));
            case I32 -> data.getAtIndex(ValueLayout.JAVA_INT, i);
            case I64 -> data.getAtIndex(ValueLayout.JAVA_LONG, i);
            case U8 -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        };
    }

    public void setFloat(long i, float v) {
        if (dtype != DType.F32) throw new IllegalStateException("setFloat on a " + dtype + " tensor");
        data.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
    }

    public int getInt(long i) {
        if (dtype != DType.I32) throw new IllegalStateException("getInt on a " + dtype + " tensor");
        return data.getAtIndex(ValueLayout.JAVA_INT, i);
    }

    public void setInt(long i, int v) {
        if (dtype != DType.I32) throw new IllegalStateException("setInt on a " + dtype + " tensor");
        data.setAtIndex(ValueLayout.JAVA_INT, i, v);
    }

    /** All elements as floats (a copy), converting from any floating dtype. */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE) throw new IllegalStateException("tensor too large for a Java array: " + n);
        if (dtype == DType.F32) return data.toArray(ValueLayout.JAVA_FLOAT);
        float[] out = new float[(int) n];
        for (int i = 0; i < n; i++) out[i] = getFloat(i);
        return out;
    }

    public int[] toIntArray() {
        if (dtype != DType.I32) throw new IllegalStateException("toIntArray on a " + dtype + " tensor");
        return data.toArray(ValueLayout.JAVA_INT);
    }

    public void zero() {
        data.fill((byte) 0);
    }

    public void copyFrom(Tensor src) {
        if (src.dtype != dtype || src.numel() != numel()) {
            throw new IllegalArgumentException("copy of " + src + " into " + this);
        }
        MemorySegment.copy(src.data, 0, data, 0, data.byteSize());
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }
}
