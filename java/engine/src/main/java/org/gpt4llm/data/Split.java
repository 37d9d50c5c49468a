package org.gpt4llm.data;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A held-out part of the data for evaluation loss. Which items are held out depends only on the
 * seed and the number of items; both parts keep the items' original order.
 */
public record Split<T>(List<T> train, List<T> eval) {
    /** Holds out {@code round(fraction * n)} items, at least one when the fraction is positive. */
    public static <T> Split<T> byFraction(List<T> items, double fraction, long seed) {
        if (!(fraction >= 0 && fraction < 1)) throw new IllegalArgumentException("the eval fraction must be in [0, 1), got " + fraction);
        int count = (int) Math.round(fraction * items.size());
        if (fraction > 0 && count == 0) count = 1;
        return byCount(items, count, seed);
    }

    /** Holds out {@code count} items chosen by {@code seed}; at least one item stays for training. */
    public static <T> Split<T> byCount(List<T> items, int count, long seed) {
        if (count < 0 || count >= items.size() && count > 0) {
            throw new IllegalArgumentException("cannot hold out " + count + " of " + items.size() + " examples and still train on some");
        }
        boolean[] held = new boolean[items.size()];
        int[] order = DataLoader.permutation(items.size(), new Random(seed));
        for (int i = 0; i < count; i++) held[order[i]] = true;
        List<T> train = new ArrayList<>(items.size() - count), eval = new ArrayList<>(count);
        for (int i = 0; i < items.size(); i++) (held[i] ? eval : train).add(items.get(i));
        return new Split<>(List.copyOf(train), List.copyOf(eval));
    }
}
