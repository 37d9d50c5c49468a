package org.gpt4llm.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.gpt4llm.model.TokenBatch;

/**
 * Micro-batches of examples in a shuffled order that is a function of (seed, epoch) only, so that a
 * run resumed from a {@link State} sees exactly the batches an uninterrupted run would.
 *
 * <p>Rows are right-padded to the longest row of the micro-batch (pad id, target -100, segment 0).
 * With packing, each row holds as many consecutive examples of the order as fit in {@code maxLen}
 * (greedy, an example is never split): each has its own segment id (1, 2, ...) and positions from
 * 0, so attention and position never cross examples; a micro-batch then consumes a varying number
 * of examples. A micro-batch never spans two epochs: the last one of an epoch may be smaller.
 */
public final class DataLoader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Example> examples;
    private final int microBatch, maxLen, padId;
    private final boolean pack;
    private final long seed;
    private int epoch, position, lastExamples;
    private int[] order;
    private int orderEpoch = -1;

    /**
     * Where the loader stands: the next micro-batch starts at example {@code position} of epoch
     * {@code epoch}'s order, and the order comes from {@code seed}.
     */
    public record State(int epoch, int position, long seed) {
        public String toJson() {
            try {
                return JSON.writeValueAsString(this);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }

        public static State fromJson(String json) {
            try {
                return JSON.readValue(json, State.class);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException("the data position " + json + " is not a saved loader state: " + e.getOriginalMessage());
            }
        }
    }

    public DataLoader(List<Example> examples, int microBatch, int maxLen, boolean pack, int padId, long seed) {
        if (examples.isEmpty()) throw new IllegalArgumentException("there are no training examples");
        if (microBatch < 1) throw new IllegalArgumentException("--micro-batch must be positive, got " + microBatch);
        for (Example e : examples) {
            if (e.length() > maxLen) throw new IllegalArgumentException(e.ref() + " has " + e.length() + " tokens, more than --max-len " + maxLen);
        }
        this.examples = List.copyOf(examples);
        this.microBatch = microBatch;
        this.maxLen = maxLen;
        this.pack = pack;
        this.padId = padId;
        this.seed = seed;
    }

    public int size() {
        return examples.size();
    }

    public State state() {
        return new State(epoch, position, seed);
    }

    /** Continues from {@code state}, which must come from a loader over the same examples and seed. */
    public void seek(State state) {
        if (state.seed() != seed) {
            throw new IllegalArgumentException("the saved data order used seed " + state.seed() + ", this run uses --seed " + seed);
        }
        if (state.epoch() < 0 || state.position() < 0 || state.position() >= examples.size()) {
            throw new IllegalArgumentException("the saved data position " + state.position() + " of epoch " + state.epoch()
                    + " does not fit a data set of " + examples.size() + " examples");
        }
        epoch = state.epoch();
        position = state.position();
    }

    /** The next micro-batch; after the last one of an epoch the next epoch starts, reshuffled. */
    public TokenBatch next() {
        int[] o = order(epoch);
        List<List<Example>> rows = new ArrayList<>();
        int start = position;
        position = fill(examples, o, position, microBatch, maxLen, pack, rows);
        lastExamples = position - start;
        if (position == o.length) {
            epoch++;
            position = 0;
        }
        return assemble(rows, padId);
    }

    /** How many examples the last {@link #next} batch held (more than its rows when packing). */
    public int lastBatchExamples() {
        return lastExamples;
    }

    /** How many micro-batches epoch {@code e} has (with packing it can differ between epochs). */
    public int batchesInEpoch(int e) {
        int[] o = order(e);
        int count = 0;
        for (int p = 0; p < o.length; count++) p = fill(examples, o, p, microBatch, maxLen, pack, new ArrayList<>());
        return count;
    }

    /** The example indices of epoch {@code e} in the order they are trained on. */
    public int[] epochOrder(int e) {
        return order(e).clone();
    }

    /** All of {@code examples} in their given order, e.g. the held-out set for eval loss. */
    public static List<TokenBatch> inOrder(List<Example> examples, int microBatch, int maxLen, boolean pack, int padId) {
        int[] o = new int[examples.size()];
        for (int i = 0; i < o.length; i++) o[i] = i;
        List<TokenBatch> batches = new ArrayList<>();
        for (int p = 0; p < o.length; ) {
            List<List<Example>> rows = new ArrayList<>();
            p = fill(examples, o, p, microBatch, maxLen, pack, rows);
            batches.add(assemble(rows, padId));
        }
        return batches;
    }

    private int[] order(int e) {
        if (orderEpoch != e) {
            // java.util.Random's sequence is fixed by its specification, so the order is the same on every JVM
            order = permutation(examples.size(), new Random(seed * 0x9E3779B97F4A7C15L + e));
            orderEpoch = e;
        }
        return order;
    }

    /** A Fisher-Yates shuffle of 0..n-1. */
    static int[] permutation(int n, Random random) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Fills {@code rows} with the examples of one micro-batch starting at {@code start}; returns the next start. */
    private static int fill(List<Example> examples, int[] order, int start, int microBatch, int maxLen, boolean pack,
                            List<List<Example>> rows) {
        int p = start, used = 0;
        while (p < order.length) {
            Example e = examples.get(order[p]);
            if (pack && !rows.isEmpty() && used + e.length() <= maxLen) {
                rows.getLast().add(e);
                used += e.length();
            } else if (rows.size() < microBatch) {
                rows.add(new ArrayList<>(List.of(e)));
                used = e.length();
            } else {
                break;
            }
            p++;
        }
        return p;
    }

    /** Rows of one or more examples each, right-padded to the longest, targets shifted per example. */
    static TokenBatch assemble(List<List<Example>> rows, int padId) {
        int t = rows.stream().mapToInt(r -> r.stream().mapToInt(Example::length).sum()).max().orElse(0);
        int b = rows.size();
        int[] tok = new int[b * t], tgt = new int[b * t], pos = new int[b * t], seg = new int[b * t];
        Arrays.fill(tok, padId);
        Arrays.fill(tgt, TokenBatch.IGNORE);
        for (int i = 0; i < b; i++) {
            int at = i * t, segment = 0;
            for (Example e : rows.get(i)) {
                segment++;
                int n = e.length();
                for (int j = 0; j < n; j++, at++) {
                    tok[at] = e.ids()[j];
                    pos[at] = j;
                    seg[at] = segment;
                    // the last token of an example predicts nothing: the next one belongs to another example
                    if (j + 1 < n) tgt[at] = e.labels()[j + 1];
                }
            }
        }
        return new TokenBatch(b, t, tok, tgt, pos, seg);
    }
}
