package org.gpt4llm.gguf;

import org.gpt4llm.tensor.DType;

/** ggml's tensor type ids (enum ggml_type) as GGUF stores them: names for messages, and the ones we can read. */
public final class GgmlType {
    public static final int F32 = 0;
    public static final int F16 = 1;
    public static final int Q8_0 = 8;
    public static final int BF16 = 30;

    /** Names by id; null where ggml retired an id (4, 5 were Q4_2, Q4_3; 31-33 and 36-38 repacked Q4_0/IQ4_NL). */
    private static final String[] NAMES = {
        "F32", "F16", "Q4_0", "Q4_1", null, null, "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
        "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
        "BF16", null, null, null, "TQ1_0", "TQ2_0", null, null, null, "MXFP4",
    };

    private GgmlType() {
    }

    /** The type's ggml name ("Q4_K"), or "ggml type N" for an id ggml does not (or no longer) define. */
    public static String name(int id) {
        return id >= 0 && id < NAMES.length && NAMES[id] != null ? NAMES[id] : "ggml type " + Integer.toUnsignedString(id);
    }

    /** The plain floating-point type stored with this id, or null for quantised and integer types. */
    static DType dtype(int id) {
        return switch (id) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            default -> null;
        };
    }
}
