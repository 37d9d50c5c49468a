package org.gpt4llm.peer;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Moves data between our tensors and libtorch's (CPU), for the oracle in tests and the peer in
 * {@code gpt4llm bench}. Every conversion copies: the two never share memory.
 */
public final class Torch {
    private Torch() {}

    /** Sets libtorch's intra-op thread count (it uses one thread here unless told). */
    public static void setThreads(int n) {
        torch.set_num_threads(n);
    }

    public static int threads() {
        return torch.get_num_threads();
    }

    /** A float32 libtorch tensor with the given shape holding a copy of {@code values}. */
    public static org.bytedeco.pytorch.Tensor floats(float[] values, long... shape) {
        return org.bytedeco.pytorch.Tensor.create(values, shape);
    }

    /** An int64 libtorch tensor (the index type libtorch wants) from int values. */
    public static org.bytedeco.pytorch.Tensor longs(int[] values, long... shape) {
        long[] l = new long[values.length];
        for (int i = 0; i < l.length; i++) l[i] = values[i];
        return org.bytedeco.pytorch.Tensor.create(l, shape);
    }

    /** A copy of one of our tensors: floating dtypes become float32, I32 becomes int64. */
    public static org.bytedeco.pytorch.Tensor of(Tensor t) {
        if (t.dtype() == DType.I32) return longs(t.toIntArray(), t.shape());
        return floats(t.toFloatArray(), t.shape());
    }

    /** The values of a float32 libtorch tensor in row-major order. */
    public static float[] toFloats(org.bytedeco.pytorch.Tensor t) {
        org.bytedeco.pytorch.Tensor c = t.contiguous();
        if (c.scalar_type() != torch.ScalarType.Float) c = c.to(torch.ScalarType.Float).contiguous();
        FloatBuffer b = c.createBuffer();
        float[] out = new float[(int) c.numel()];
        b.get(out);
        return out;
    }

    /** The values of an int32/int64 libtorch tensor. */
    public static int[] toInts(org.bytedeco.pytorch.Tensor t) {
        org.bytedeco.pytorch.Tensor c = t.contiguous().to(torch.ScalarType.Long).contiguous();
        LongBuffer b = c.createBuffer();
        int[] out = new int[(int) c.numel()];
        for (int i = 0; i < out.length; i++) out[i] = Math.toIntExact(b.get(i));
        return out;
    }

}
