package org.gpt4llm.backend.cuda.kernels;

import static org.gpt4llm.backend.cuda.kernels.KernelArgs.dtype;
import static org.gpt4llm.backend.cuda.kernels.KernelArgs.toInt;

import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.Device.Dim3;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * Launchers of kernels/embedding.cu: table [V, C] BF16, tokens [N] I32, out/dout [N, C] BF16,
 * dtable [V, C] F32 (accumulated). The ids live on the device and are not checked here; the
 * kernels skip an id outside [0, V) (a zero output row, a dropped gradient row).
 */
public final class EmbeddingKernels {
    private EmbeddingKernels() {}

    /** Id buckets of the backward: each adds C threads; a few dozen fill a GPU for any C. */
    static final int MAX_BUCKETS = 32;
    /** Rows per bucket below which more buckets would mostly walk ids for nothing. */
    private static final int ROWS_PER_BUCKET = 64;

    /** out[n, :] = table[tokens[n], :]. */
    public static void embeddingForward(Device d, Tensor out, Tensor tokens, Tensor table) {
        String op = "embedding forward";
        Shape s = shape(op, "out", out, tokens, table, DType.BF16);
        if (s.empty()) return;
        d.launch("embedding_forward", Dim3.of(s.n), KernelArgs.rowBlock(s.c), 0, out, tokens, table, s.n, s.c, s.v);
    }

    /** dtable[tokens[n], :] += dout[n, :], repeated ids summed in row order (deterministic). */
    public static void embeddingBackward(Device d, Tensor dtable, Tensor tokens, Tensor dout) {
        embeddingBackward(d, dtable, tokens, dout, Math.clamp(tokens.numel() / ROWS_PER_BUCKET, 1, MAX_BUCKETS));
    }

    /** As above with {@code buckets} id buckets (the grid's y size); the result is the same bits for any. */
    public static void embeddingBackward(Device d, Tensor dtable, Tensor tokens, Tensor dout, int buckets) {
        String op = "embedding backward";
        Shape s = shape(op, "dout", dout, tokens, dtable, DType.F32);
        if (buckets < 1 || buckets > 65535) {  // grid y is at most 65535
            throw new IllegalArgumentException(op + ": bucket count must be in [1, 65535], got " + buckets);
        }
        if (s.empty()) return;
        int threads = Math.min(KernelArgs.MAX_ROW_THREADS, (s.c + 31) / 32 * 32);
        d.launch("embedding_backward", Dim3.of((s.c + threads - 1) / threads, buckets), Dim3.of(threads), 0,
                dtable, tokens, dout, s.n, s.c, s.v);
    }

    private record Shape(int n, int c, int v) {
        boolean empty() {
            return n == 0 || c == 0;
        }
    }

    /** Checks rows [N, C] (BF16) against tokens [N] and a table [V, C] of {@code tableType}. */
    private static Shape shape(String op, String rowsName, Tensor rows, Tensor tokens, Tensor table, DType tableType) {
        dtype(op, rowsName, rows, DType.BF16);
        dtype(op, "tokens", tokens, DType.I32);
        dtype(op, tableType == DType.F32 ? "dtable" : "table", table, tableType);
        if (table.rank() != 2) throw new IllegalArgumentException(op + ": table must be [V, C], got " + table);
        int v = toInt(op, "vocabulary", table.dim(0)), c = toInt(op, "C", table.dim(1));
        int n = toInt(op, "N", tokens.numel());
        if (rows.numel() != (long) n * c) {
            throw new IllegalArgumentException(op + ": " + rowsName + " " + rows + " is not " + n + " rows of " + c
                    + " for tokens " + tokens);
        }
        return new Shape(n, c, v);
    }
}
