package org.gpt4llm.backend.contract;

import org.gpt4llm.io.Precision;

/** Values rounded to bf16 as a GPU backend stores them (nearest, ties to even): what a reference must see. */
public final class Bf16 {
    private Bf16() {}

    public static float round(float v) {
        return Float.intBitsToFloat((Precision.toBf16(v) & 0xffff) << 16);
    }

    public static float[] round(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = round(v[i]);
        return out;
    }
}
