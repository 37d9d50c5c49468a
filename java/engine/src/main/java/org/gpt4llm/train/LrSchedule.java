package org.gpt4llm.train;

import java.util.Locale;

/**
 * The learning rate of each optimizer step, as HF transformers' {@code get_constant_schedule_with_warmup},
 * {@code get_linear_schedule_with_warmup} and {@code get_cosine_schedule_with_warmup} (half a cosine)
 * compute it. {@code step} is the number of updates already applied, so the first update uses
 * {@code lr(0)}, which is 0 when there is a warmup, as in HF.
 *
 * <pre>
 * warmup   (s &lt; W):  peak * s / max(1, W)
 * constant:          peak
 * linear:            peak * max(0, (N - s) / max(1, N - W))
 * cosine:            peak * max(0, 0.5 * (1 + cos(pi * p))),   p = (s - W) / max(1, N - W)
 * </pre>
 * with {@code W = ceil(warmupRatio * N)} (HF's {@code get_warmup_steps}) and N the total steps.
 */
public record LrSchedule(Kind kind, double peak, int warmupSteps, int totalSteps) {
    public enum Kind {
        COSINE, LINEAR, CONSTANT;

        public static Kind parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "cosine" -> COSINE;
                case "linear" -> LINEAR;
                case "constant" -> CONSTANT;
                default -> throw new IllegalArgumentException("--schedule " + name + " is not cosine, linear or constant");
            };
        }
    }

    public static LrSchedule of(String kind, double peak, double warmupRatio, int totalSteps) {
        return new LrSchedule(Kind.parse(kind), peak, (int) Math.ceil(warmupRatio * totalSteps), totalSteps);
    }

    public double lr(int step) {
        if (step < warmupSteps) return peak * step / Math.max(1, warmupSteps);
        double rest = Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case CONSTANT -> peak;
            case LINEAR -> peak * Math.max(0.0, (totalSteps - step) / rest);
            case COSINE -> peak * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * (step - warmupSteps) / rest)));
        };
    }
}
