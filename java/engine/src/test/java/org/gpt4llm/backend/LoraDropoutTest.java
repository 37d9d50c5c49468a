package org.gpt4llm.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * The LoRA dropout hash drops about p of the elements, independently of the row and column layout.
 * That the GPU's dropout kernel draws this mask bit for bit is LoraLaunchTest's business; that every
 * backend applies it, the LoRA contract test's.
 */
class LoraDropoutTest {
    @Test
    void dropoutRateAndVariety() {
        long seed = TestSeeds.next();
        int rows = 300, cols = 257;
        for (float p : new float[] {0.05f, 0.1f, 0.5f}) {
            int dropped = 0, sameAsNextRow = 0;
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    float s = LoraDropout.scale(seed, i, j, p);
                    assertTrue(s == 0f || s == 1f / (1f - p), "scale " + s);
                    if (s == 0f) dropped++;
                    if ((s == 0f) == (LoraDropout.scale(seed, i + 1, j, p) == 0f)) sameAsNextRow++;
                }
            }
            double rate = dropped / (double) (rows * cols), agree = sameAsNextRow / (double) (rows * cols);
            double sd = Math.sqrt(p * (1 - p) / (rows * cols));
            assertTrue(Math.abs(rate - p) < 5 * sd, "dropout rate " + rate + " for p " + p + ", seed " + seed);
            // independent rows agree with probability p² + (1-p)²
            double pAgree = p * p + (1 - p) * (1 - p);
            assertTrue(Math.abs(agree - pAgree) < 0.02, "rows agree " + agree + " vs " + pAgree + ", seed " + seed);
        }
        assertEquals(1f, LoraDropout.scale(seed, 3, 4, 0f));
    }

    @Test
    void maskIsTheScaleOfEveryElement() {
        long seed = TestSeeds.next();
        float[] mask = LoraDropout.mask(seed, 5, 7, 0.3f);
        float[] expected = new float[35];
        for (int i = 0; i < 5; i++) for (int j = 0; j < 7; j++) expected[i * 7 + j] = LoraDropout.scale(seed, i, j, 0.3f);
        assertArrayEquals(expected, mask, "seed " + seed);
    }
}
