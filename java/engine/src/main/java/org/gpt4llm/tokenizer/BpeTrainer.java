package org.gpt4llm.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Learns a byte-level BPE from text: words from GPT-2's split with their counts, then repeatedly
 * merge the most frequent adjacent pair (ties: smaller left id, then smaller right id) until the
 * vocabulary has the size asked for or no pair occurs {@code minFrequency} times. Pair counts are
 * kept incrementally with a lazy max-heap, so each merge only touches the words that contain it.
 */
public final class BpeTrainer {
    private final int vocabSize;
    private final int minFrequency;
    /** Word (plain text) → occurrences, in first-seen order so that training is deterministic. */
    private final Map<String, long[]> wordCounts = new LinkedHashMap<>();

    public BpeTrainer(int vocabSize, int minFrequency) {
        if (vocabSize < ByteLevelBpe.MIN_VOCAB) {
            throw new IllegalArgumentException("--vocab " + vocabSize + " is too small: a byte-level BPE needs at least "
                    + ByteLevelBpe.MIN_VOCAB + " tokens (256 bytes and " + ByteLevelBpe.SPECIALS.size() + " special tokens)");
        }
        if (vocabSize > ByteLevelBpe.MAX_VOCAB) {
            throw new IllegalArgumentException("--vocab " + vocabSize + " is too large: at most " + ByteLevelBpe.MAX_VOCAB);
        }
        if (minFrequency < 1) throw new IllegalArgumentException("--min-frequency must be at least 1, got " + minFrequency);
        this.vocabSize = vocabSize;
        this.minFrequency = minFrequency;
    }

    /** Counts the words of one text. */
    public void add(String text) {
        for (String w : ByteLevel.words(text)) wordCounts.computeIfAbsent(w, k -> new long[1])[0]++;
    }

    public ByteLevelBpe train() {
        List<String> tokens = new ArrayList<>(ByteLevelBpe.SPECIALS);
        for (int b = 0; b < 256; b++) tokens.add(String.valueOf(ByteLevel.charOf(b)));
        Map<String, Integer> idOf = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) idOf.put(tokens.get(i), i);

        int nWords = wordCounts.size();
        int[][] words = new int[nWords][];
        int[] lengths = new int[nWords];
        long[] counts = new long[nWords];
        int w = 0;
        for (Map.Entry<String, long[]> e : wordCounts.entrySet()) {
            byte[] bytes = e.getKey().getBytes(StandardCharsets.UTF_8);
            words[w] = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) words[w][i] = ByteLevelBpe.byteId(bytes[i]);
            lengths[w] = bytes.length;
            counts[w] = e.getValue()[0];
            w++;
        }

        Map<Long, Long> pairCount = new HashMap<>();
        Map<Long, Set<Integer>> wordsWith = new HashMap<>();
        for (w = 0; w < nWords; w++) {
            for (int i = 0; i + 1 < lengths[w]; i++) {
                long key = ByteLevelBpe.pairKey(words[w][i], words[w][i + 1]);
                pairCount.merge(key, counts[w], Long::sum);
                wordsWith.computeIfAbsent(key, k -> new HashSet<>()).add(w);
            }
        }
        // entries {count, pair}; an entry is stale when the pair's count has changed since it was pushed
        PriorityQueue<long[]> heap = new PriorityQueue<>((x, y) -> x[0] != y[0] ? Long.compare(y[0], x[0]) : Long.compare(x[1], y[1]));
        pairCount.forEach((key, c) -> heap.add(new long[] {c, key}));

        List<int[]> merges = new ArrayList<>();
        while (tokens.size() < vocabSize && !heap.isEmpty()) {
            long[] top = heap.poll();
            long key = top[1];
            if (pairCount.getOrDefault(key, 0L) != top[0]) continue;
            if (top[0] < minFrequency) break;
            int a = ByteLevelBpe.left(key);
            int b = ByteLevelBpe.right(key);
            String spelled = tokens.get(a) + tokens.get(b);
            // two merge paths can spell the same token; the later merge reuses its id, as HF's trainer does
            Integer merged = idOf.get(spelled);
            if (merged == null) {
                merged = tokens.size();
                tokens.add(spelled);
                idOf.put(spelled, merged);
            }
            merges.add(new int[] {a, b});

            Map<Long, Long> delta = new HashMap<>();
            for (int wi : wordsWith.remove(key)) {
                lengths[wi] = mergeWord(words[wi], lengths[wi], a, b, merged, counts[wi], delta, wi, wordsWith);
            }
            pairCount.remove(key);
            delta.remove(key);
            for (Map.Entry<Long, Long> d : delta.entrySet()) {
                if (d.getValue() == 0) continue;
                long now = pairCount.merge(d.getKey(), d.getValue(), Long::sum);
                if (now <= 0) pairCount.remove(d.getKey());
                else heap.add(new long[] {now, d.getKey()});
            }
        }
        return new ByteLevelBpe(tokens, merges);
    }

    /**
     * Replaces every (a, b) in the first {@code n} symbols of a word, left to right, by {@code merged},
     * and records how the pair counts change: only the neighbours of each merge site change, so a
     * long word (a Chinese sentence is one word) costs no more than its merge sites. Returns the new length.
     */
    private static int mergeWord(int[] syms, int n, int a, int b, int merged, long count,
            Map<Long, Long> delta, int word, Map<Long, Set<Integer>> wordsWith) {
        int out = 0;
        for (int i = 0; i < n; i++) {
            if (i + 1 < n && syms[i] == a && syms[i + 1] == b) {
                if (out > 0) {
                    // the left neighbour may itself be a merge just made here: then this undoes its (merged, a)
                    int left = syms[out - 1];
                    delta.merge(ByteLevelBpe.pairKey(left, a), -count, Long::sum);
                    change(ByteLevelBpe.pairKey(left, merged), count, delta, word, wordsWith);
                }
                if (i + 2 < n) {
                    int right = syms[i + 2];
                    delta.merge(ByteLevelBpe.pairKey(b, right), -count, Long::sum);
                    change(ByteLevelBpe.pairKey(merged, right), count, delta, word, wordsWith);
                }
                syms[out++] = merged;
                i++;
            } else {
                syms[out++] = syms[i];
            }
        }
        return out;
    }

    private static void change(long pair, long count, Map<Long, Long> delta, int word, Map<Long, Set<Integer>> wordsWith) {
        delta.merge(pair, count, Long::sum);
        wordsWith.computeIfAbsent(pair, k -> new HashSet<>()).add(word);
    }
}
