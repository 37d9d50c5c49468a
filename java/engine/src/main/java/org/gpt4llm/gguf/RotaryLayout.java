package org.gpt4llm.gguf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The two row orders of a q_proj / k_proj weight [heads * headDim, in]. HF rotates pairs
 * (i, i + headDim/2) of each head ({@code rotate_half}); llama.cpp rotates adjacent pairs (2i, 2i+1),
 * so its converter reorders the rows of every head:
 *
 * <pre>
 *   llama.cpp row  h*headDim + 2*i + j   =   HF row  h*headDim + j*headDim/2 + i      (i < headDim/2, j ∈ {0, 1})
 * </pre>
 *
 * (convert_hf_to_gguf.py's {@code permute}: reshape [heads, 2, headDim/2, in], swap axes 1 and 2).
 * K uses the number of key/value heads.
 */
public final class RotaryLayout {
    private RotaryLayout() {
    }

    /** A copy of llama.cpp-ordered {@code w} (F32) in HF's order, owned by {@code arena}. */
    public static Tensor toHf(Tensor w, int heads, Arena arena) {
        return reorder(w, heads, true, arena);
    }

    /** A copy of HF-ordered {@code w} (F32) in llama.cpp's order, owned by {@code arena}. */
    public static Tensor toLlamaCpp(Tensor w, int heads, Arena arena) {
        return reorder(w, heads, false, arena);
    }

    private static Tensor reorder(Tensor w, int heads, boolean toHf, Arena arena) {
        if (w.dtype() != DType.F32 || w.rank() != 2 || heads <= 0 || w.dim(0) % heads != 0 || (w.dim(0) / heads) % 2 != 0) {
            throw new IllegalArgumentException("cannot reorder " + w + " for " + heads + " rotary heads of even size");
        }
        Tensor out = Tensor.allocate(arena, DType.F32, w.shape());
        long headDim = w.dim(0) / heads, half = headDim / 2, rowBytes = w.dim(1) * Float.BYTES;
        MemorySegment src = w.data(), dst = out.data();
        for (long h = 0; h < heads; h++) {
            for (long i = 0; i < half; i++) {
                for (long j = 0; j < 2; j++) {
                    long llamaCppRow = h * headDim + 2 * i + j, hfRow = h * headDim + j * half + i;
                    long from = toHf ? llamaCppRow : hfRow, to = toHf ? hfRow : llamaCppRow;
                    MemorySegment.copy(src, from * rowBytes, dst, to * rowBytes, rowBytes);
                }
            }
        }
        return out;
    }
}
