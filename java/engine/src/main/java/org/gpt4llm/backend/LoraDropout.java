package org.gpt4llm.backend;

/**
 * The LoRA dropout mask, shared by every backend and by test references: element (row, col) of the
 * adapter's input is kept iff u(seed, row, col) >= p, and a kept element is multiplied by 1/(1-p)
 * (PEFT's inverted {@code lora_dropout}). u comes from a counter-based hash (SplitMix64's finaliser
 * of {@code seed + ((row << 32 | col) + 1) * 0x9E3779B97F4A7C15}, top 24 bits as u in [0, 1)), the
 * same one kernels/lora.cu computes, so the backward regenerates the mask instead of storing it.
 */
public final class LoraDropout {
    private LoraDropout() {}

    /** The factor applied to x[row, col] under dropout p: 1/(1-p) when kept, 0 when dropped (1 when p = 0). */
    public static float scale(long seed, int row, int col, float p) {
        if (p == 0f) return 1f;
        long z = mix(seed, ((long) row << 32) | (col & 0xffffffffL));
        float u = (float) (z >>> 40) * (1f / 16777216f);
        return u >= p ? 1f / (1f - p) : 0f;
    }

    /**
     * The mask seed of adapter {@code adapter} (its index among a model's adapters) in a step seeded
     * {@code stepSeed}: the hash of the mask at row 0, column {@code adapter}, so distinct adapters get
     * unrelated masks. kernels/lora.cu derives the same on the device from a seed in device memory.
     */
    public static long adapterSeed(long stepSeed, int adapter) {
        return mix(stepSeed, adapter & 0xffffffffL);
    }

    /** SplitMix64's finaliser of {@code seed + (counter + 1) * golden ratio}. */
    private static long mix(long seed, long counter) {
        long z = seed + (counter + 1L) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The whole mask of a [rows, cols] input, row-major (a reference's view of {@link #scale}). */
    public static float[] mask(long seed, int rows, int cols, float p) {
        float[] m = new float[rows * cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i * cols + j] = scale(seed, i, j, p);
        return m;
    }
}
