package org.gpt4llm.tensor;

/** Element types of tensors and checkpoint files; names are the safetensors dtype strings. */
public enum DType {
    F32(4), F16(2), BF16(2), I32(4), I64(8), U8(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public boolean isFloating() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** The dtype for a safetensors dtype string, or null when we do not support it. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) {
            if (d.name().equals(name)) return d;
        }
        return null;
    }
}
