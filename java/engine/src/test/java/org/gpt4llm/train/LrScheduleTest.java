package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * Values of HF transformers' schedules with warmup (lr_lambda of get_constant/linear/cosine_schedule_with_warmup
 * times the peak; warmup steps = ceil(ratio * total) as TrainingArguments.get_warmup_steps).
 */
class LrScheduleTest {
    private static final double PEAK = 2e-5;

    @Test
    void warmupStepsRoundUp() {
        assertEquals(3, LrSchedule.of("cosine", PEAK, 0.03, 100).warmupSteps());
        assertEquals(1, LrSchedule.of("cosine", PEAK, 0.03, 24).warmupSteps()); // 0.72 -> 1
        assertEquals(0, LrSchedule.of("cosine", PEAK, 0.0, 24).warmupSteps());
    }

    @Test
    void warmupIsLinearFromZero() {
        for (String kind : new String[] {"cosine", "linear", "constant"}) {
            LrSchedule s = LrSchedule.of(kind, PEAK, 0.04, 100); // 4 warmup steps
            assertEquals(0.0, s.lr(0), 0, kind);
            assertEquals(PEAK / 4, s.lr(1), 1e-20, kind);
            assertEquals(PEAK * 3 / 4, s.lr(3), 1e-20, kind);
            assertEquals(PEAK, s.lr(4), 1e-20, kind);
        }
    }

    @Test
    void decayAfterWarmup() {
        // N = 104, W = ceil(0.03 * 104) = 4: 100 decay steps
        LrSchedule cos = LrSchedule.of("cosine", PEAK, 0.03, 104), lin = LrSchedule.of("linear", PEAK, 0.03, 104),
                con = LrSchedule.of("constant", PEAK, 0.03, 104);
        assertEquals(4, cos.warmupSteps());
        assertEquals(PEAK * 0.5 * (1 + Math.cos(Math.PI * 0.25)), cos.lr(29), 1e-20);
        assertEquals(PEAK / 2, cos.lr(54), 1e-20);
        assertEquals(PEAK * 0.5 * (1 + Math.cos(Math.PI * 0.99)), cos.lr(103), 1e-20);
        assertEquals(0.0, cos.lr(104), 1e-20);
        assertEquals(PEAK * 75 / 100, lin.lr(29), 1e-20);
        assertEquals(PEAK / 2, lin.lr(54), 1e-20);
        assertEquals(PEAK / 100, lin.lr(103), 1e-20);
        assertEquals(0.0, lin.lr(110), 0); // never negative past the end
        assertEquals(PEAK, con.lr(54), 0);
        assertEquals(PEAK, con.lr(103), 0);
    }

    @Test
    void unknownScheduleIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("step", PEAK, 0, 10));
        assertEquals("--schedule step is not cosine, linear or constant", e.getMessage());
    }
}
