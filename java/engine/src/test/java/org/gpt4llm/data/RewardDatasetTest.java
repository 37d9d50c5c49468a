package org.gpt4llm.data;

import static org.gpt4llm.model.TokenBatch.IGNORE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

class RewardDatasetTest {
    private static final int PAD = 0;

    /** Groups of K = 1..4 responses with random lengths, tokens and (partly tied) scores. */
    private static List<EncodedGroup> randomGroups(Random rnd, int n) {
        List<EncodedGroup> groups = new ArrayList<>();
        for (int g = 0; g < n; g++) {
            int k = 1 + g % 4;
            int[][] rows = new int[k][];
            float[] scores = new float[k];
            for (int i = 0; i < k; i++) {
                rows[i] = rnd.ints(1 + rnd.nextInt(12), 3, 1000).toArray();
                scores[i] = rnd.nextInt(4);
            }
            groups.add(new EncodedGroup(new RecordRef(Path.of("g.json"), g, 0), rows, scores));
        }
        return groups;
    }

    @Test
    void batchHoldsEveryResponseOfTheGroupsInOrderWithReadOutIndices() {
        Random rnd = TestSeeds.random();
        List<EncodedGroup> groups = randomGroups(rnd, 9);
        RewardDataset data = new RewardDataset(groups, PAD);
        assertEquals(9, data.size());
        int[] pick = {6, 1, 3, 0, 8};
        RewardBatch b = data.batch(pick);
        TokenBatch t = b.tokens();

        int m = 0, longest = 0, pairs = 0, tokens = 0;
        for (int g : pick) {
            m += groups.get(g).size();
            for (int[] r : groups.get(g).rows()) {
                longest = Math.max(longest, r.length);
                tokens += r.length;
            }
            float[] s = groups.get(g).scores();
            for (float a : s) for (float c : s) if (a > c) pairs++;
        }
        assertEquals(m, t.batch());
        assertEquals(longest, t.seqLen());
        assertEquals(pick.length, b.groups());
        assertEquals(pairs, b.pairs());
        assertEquals(pairs, b.lossTerms());
        assertEquals(tokens, b.tokenCount());

        int row = 0;
        for (int g = 0; g < pick.length; g++) {
            EncodedGroup group = groups.get(pick[g]);
            assertEquals(row, b.offsets()[g]);
            for (int k = 0; k < group.size(); k++, row++) {
                int[] r = group.rows()[k];
                int base = row * t.seqLen();
                assertEquals(base + r.length - 1, b.last()[row]);
                assertEquals(r[r.length - 1], t.tokens()[b.last()[row]]);
                assertEquals(group.scores()[k], b.gold()[row]);
                for (int j = 0; j < t.seqLen(); j++) {
                    boolean real = j < r.length;
                    assertEquals(real ? r[j] : PAD, t.tokens()[base + j]);
                    assertEquals(real ? 1 : 0, t.segments()[base + j]);
                    assertEquals(real ? j : 0, t.positions()[base + j]);
                    assertEquals(IGNORE, t.targets()[base + j]);
                }
            }
        }
        assertEquals(m, b.offsets()[pick.length]);
    }

    @Test
    void aBatchOfOneGroupOfOneResponseHasNoPairs() {
        List<EncodedGroup> groups = randomGroups(TestSeeds.random(), 1);
        RewardBatch b = new RewardDataset(groups, PAD).batch(new int[] {0});
        assertEquals(0, b.lossTerms());
        assertArrayEquals(new int[] {0, 1}, b.offsets());
        assertEquals(groups.getFirst().rows()[0].length - 1, b.last()[0]);
    }
}
