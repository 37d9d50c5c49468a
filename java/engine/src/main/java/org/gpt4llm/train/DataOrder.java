package org.gpt4llm.train;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Which rows each optimizer step reads: every epoch is a fresh permutation of the rows, drawn from
 * the run's seed and the epoch number alone, cut into consecutive groups of {@code batch} rows (the
 * last group of an epoch may be smaller; groups never span two epochs). So step {@code s} always
 * reads the same rows, and the data position saved in a checkpoint is the step count.
 */
public final class DataOrder {
    private final long seed;
    private final int size, batch, stepsPerEpoch;
    private int cachedEpoch = -1;
    private int[] cachedPermutation;

    public DataOrder(long seed, int size, int batch) {
        if (size < 1) throw new IllegalArgumentException("there are no training rows");
        this.seed = seed;
        this.size = size;
        this.batch = batch;
        this.stepsPerEpoch = (size + batch - 1) / batch;
    }

    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    public int epochOf(int step) {
        return step / stepsPerEpoch;
    }

    /** The rows of optimizer step {@code step} (0-based). */
    public int[] rows(int step) {
        int from = (step % stepsPerEpoch) * batch;
        return Arrays.copyOfRange(permutation(epochOf(step)), from, Math.min(from + batch, size));
    }

    /** Fisher-Yates shuffle of 0..size-1, seeded by (seed, epoch). */
    int[] permutation(int epoch) {
        if (epoch != cachedEpoch) {
            SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
            int[] p = new int[size];
            for (int i = 0; i < size; i++) p[i] = i;
            for (int i = size - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
            cachedPermutation = p;
            cachedEpoch = epoch;
        }
        return cachedPermutation;
    }
}
