package org.gpt4llm.data;

import static org.gpt4llm.model.TokenBatch.IGNORE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.gpt4llm.model.TokenBatch;
import org.junit.jupiter.api.Test;

class DataLoaderTest {
    private static final int PAD = 0;

    /** Example i: ids 1000*i+1.., the first third of tokens masked as prompt. */
    private static List<Example> examples(int n, int minLen, int maxLen, long seed) {
        Random r = new Random(seed);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int len = minLen + r.nextInt(maxLen - minLen + 1);
            int[] ids = new int[len], labels = new int[len];
            for (int j = 0; j < len; j++) {
                ids[j] = 1000 * (i + 1) + j;
                labels[j] = j < len / 3 + 1 ? IGNORE : ids[j];
            }
            out.add(new Example(new RecordRef(Path.of("x.json"), i, 0), ids, labels, len / 3 + 1));
        }
        return out;
    }

    private static void assertSameBatch(TokenBatch expected, TokenBatch actual, String what) {
        assertEquals(expected.batch(), actual.batch(), what);
        assertEquals(expected.seqLen(), actual.seqLen(), what);
        assertArrayEquals(expected.tokens(), actual.tokens(), what);
        assertArrayEquals(expected.targets(), actual.targets(), what);
        assertArrayEquals(expected.positions(), actual.positions(), what);
        assertArrayEquals(expected.segments(), actual.segments(), what);
    }

    private static int exampleOf(int token) {
        return token / 1000 - 1;
    }

    @Test
    void rowsAreRightPaddedToTheLongestWithShiftedTargets() {
        List<Example> ex = examples(3, 2, 9, 1);
        List<TokenBatch> batches = DataLoader.inOrder(ex, 3, 16, false, PAD);
        assertEquals(1, batches.size());
        TokenBatch b = batches.getFirst();
        int t = ex.stream().mapToInt(Example::length).max().orElseThrow();
        assertEquals(t, b.seqLen());
        for (int i = 0; i < 3; i++) {
            Example e = ex.get(i);
            for (int j = 0; j < t; j++) {
                int at = i * t + j;
                if (j < e.length()) {
                    assertEquals(e.ids()[j], b.tokens()[at]);
                    assertEquals(j + 1 < e.length() ? e.labels()[j + 1] : IGNORE, b.targets()[at]);
                    assertEquals(j, b.positions()[at]);
                    assertEquals(1, b.segments()[at]);
                } else {
                    assertEquals(PAD, b.tokens()[at]);
                    assertEquals(IGNORE, b.targets()[at]);
                    assertEquals(0, b.segments()[at]);
                }
            }
        }
    }

    @Test
    void packingKeepsExamplesWholeAndApartAndEveryTarget() {
        int maxLen = 40;
        List<Example> ex = examples(57, 3, 30, 2);
        DataLoader loader = new DataLoader(ex, 4, maxLen, true, PAD, 11);
        int batches = loader.batchesInEpoch(0);
        Set<Integer> seen = new HashSet<>();
        long supervised = 0, counted = 0;
        for (int k = 0; k < batches; k++) {
            TokenBatch b = loader.next();
            counted += loader.lastBatchExamples();
            assertTrue(b.batch() <= 4 && b.seqLen() <= maxLen);
            supervised += b.targetCount();
            for (int row = 0; row < b.batch(); row++) {
                int prevSegment = 0;
                for (int j = 0; j < b.seqLen(); j++) {
                    int at = row * b.seqLen() + j, seg = b.segments()[at];
                    if (seg == 0) {  // padding only at the end of a row
                        for (int r = j; r < b.seqLen(); r++) assertEquals(0, b.segments()[row * b.seqLen() + r]);
                        break;
                    }
                    Example e = ex.get(exampleOf(b.tokens()[at]));
                    int pos = b.positions()[at];
                    assertEquals(e.ids()[pos], b.tokens()[at]);
                    if (seg != prevSegment) {  // a new example starts at position 0 with a new segment id
                        assertEquals(prevSegment + 1, seg);
                        assertEquals(0, pos);
                        assertTrue(seen.add(exampleOf(b.tokens()[at])), "an example appears twice");
                        // the whole example sits in this row
                        assertEquals(e.ids()[e.length() - 1], b.tokens()[at + e.length() - 1]);
                        prevSegment = seg;
                    }
                    assertEquals(pos + 1 < e.length() ? e.labels()[pos + 1] : IGNORE, b.targets()[at]);
                }
            }
        }
        assertEquals(ex.size(), seen.size());
        assertEquals(ex.size(), counted);
        assertEquals(ex.stream().mapToLong(Example::supervisedTokens).sum(), supervised);
        assertTrue(batches < (ex.size() + 3) / 4, "packing should need fewer micro-batches than one example per row");
        assertEquals(new DataLoader.State(1, 0, 11), loader.state());
    }

    @Test
    void theOrderDependsOnlyOnSeedAndEpoch() {
        List<Example> ex = examples(50, 2, 6, 3);
        DataLoader a = new DataLoader(ex, 5, 16, false, PAD, 42), b = new DataLoader(ex, 5, 16, false, PAD, 42);
        assertArrayEquals(a.epochOrder(0), b.epochOrder(0));
        assertFalse(Arrays.equals(a.epochOrder(0), a.epochOrder(1)), "each epoch is reshuffled");
        assertFalse(Arrays.equals(a.epochOrder(0), new DataLoader(ex, 5, 16, false, PAD, 43).epochOrder(0)));
        int[] sorted = a.epochOrder(1).clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; i++) assertEquals(i, sorted[i]);
        for (int k = 0; k < 25; k++) assertSameBatch(a.next(), b.next(), "batch " + k);
    }

    @Test
    void resumingFromASavedStateGivesTheSameBatches() {
        List<Example> ex = examples(23, 2, 20, 4);
        for (boolean pack : new boolean[] {false, true}) {
            DataLoader straight = new DataLoader(ex, 3, 32, pack, PAD, 7);
            List<TokenBatch> expected = new ArrayList<>();
            String saved = null;
            for (int k = 0; k < 30; k++) {
                if (k == 13) saved = straight.state().toJson();
                expected.add(straight.next());
            }
            DataLoader resumed = new DataLoader(ex, 3, 32, pack, PAD, 7);
            DataLoader.State state = DataLoader.State.fromJson(saved);
            resumed.seek(state);
            assertEquals(saved, state.toJson());
            for (int k = 13; k < 30; k++) assertSameBatch(expected.get(k), resumed.next(), "batch " + k + ", packing " + pack);
        }
        assertEquals("{\"epoch\":2,\"position\":5,\"seed\":7}", new DataLoader.State(2, 5, 7).toJson());
    }

    @Test
    void aStateFromAnotherSeedOrDataSetIsRefused() {
        DataLoader l = new DataLoader(examples(10, 2, 4, 5), 2, 8, false, PAD, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.seek(new DataLoader.State(0, 0, 2)));
        assertEquals("the saved data order used seed 2, this run uses --seed 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> l.seek(new DataLoader.State(1, 10, 1)));
        assertEquals("the saved data position 10 of epoch 1 does not fit a data set of 10 examples", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DataLoader.State.fromJson("{\"epoch\": \"x\"}"));
    }

    @Test
    void anExampleLongerThanMaxLenIsRefused() {
        List<Example> ex = examples(2, 10, 10, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DataLoader(ex, 2, 8, true, PAD, 0));
        assertEquals("x.json:0 has 10 tokens, more than --max-len 8", e.getMessage());
    }

    @Test
    void heldOutSplitIsDeterministicAndDisjoint() {
        List<Integer> items = new ArrayList<>();
        for (int i = 0; i < 100; i++) items.add(i);
        Split<Integer> a = Split.byFraction(items, 0.05, 9), b = Split.byCount(items, 5, 9);
        assertEquals(a, b);
        assertEquals(5, a.eval().size());
        assertEquals(95, a.train().size());
        Set<Integer> all = new HashSet<>(a.train());
        all.addAll(a.eval());
        assertEquals(100, all.size());
        assertNotEquals(a.eval(), Split.byCount(items, 5, 10).eval());
        assertEquals(1, Split.byFraction(items, 0.001, 9).eval().size());
        assertEquals(0, Split.byFraction(items, 0, 9).eval().size());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Split.byCount(items, 100, 1));
        assertEquals("cannot hold out 100 of 100 examples and still train on some", e.getMessage());
    }
}
