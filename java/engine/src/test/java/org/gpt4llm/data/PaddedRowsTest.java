package org.gpt4llm.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.gpt4llm.model.TokenBatch;
import org.junit.jupiter.api.Test;

/** Rows collated in the asked order and right-padded as {@link TokenBatch#causalLm} pads. */
class PaddedRowsTest {
    @Test
    void collatesLikeCausalLm() {
        int[][] data = {{5, 6, 7}, {8, 9, 10, 11, 12}, {13, 14}};
        List<TokenBatch> rows = List.of(TokenBatch.causalLm(new int[][] {data[0]}, 0),
                TokenBatch.causalLm(new int[][] {data[1]}, 0), TokenBatch.causalLm(new int[][] {data[2]}, 0));
        TokenBatch got = new PaddedRows(rows, 0).batch(new int[] {2, 1});
        TokenBatch want = TokenBatch.causalLm(new int[][] {data[2], data[1]}, 0);
        assertEquals(want.batch(), got.batch());
        assertEquals(want.seqLen(), got.seqLen());
        assertEquals(java.util.Arrays.toString(want.tokens()), java.util.Arrays.toString(got.tokens()));
        assertEquals(java.util.Arrays.toString(want.targets()), java.util.Arrays.toString(got.targets()));
        assertEquals(java.util.Arrays.toString(want.segments()), java.util.Arrays.toString(got.segments()));
        assertEquals(java.util.Arrays.toString(want.positions()), java.util.Arrays.toString(got.positions()));
    }
}
