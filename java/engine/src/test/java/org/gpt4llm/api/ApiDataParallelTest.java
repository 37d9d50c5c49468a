package org.gpt4llm.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.train.Trainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The API's fine-tuning on several devices against one: stories260K trained with the same options and
 * the same global batch on 1 device and on N (ZeRO 0 to 3; full and LoRA) gives the same losses and
 * final weights, within the cpu's tolerance of the data-parallel runs.
 *
 * <p>The tolerances come from 40 fresh seeds of every cell, and 80 more of two LoRA cells (2 devices under
 * ZeRO 1, 4 under ZeRO 2) at the learning rate the test uses. A run on N devices gives the same result
 * every time (see {@link #aRunOnSeveralDevicesRepeatsExactly}), but the ranks' gradients are summed in
 * another order than one device accumulates them (~1e-7 relative), and AdamW, which divides each gradient
 * by its own magnitude, carries that into the next steps. Full fine-tuning: losses within 1.6e-6 relative,
 * gradient norms within 3.9e-6, and all but 2 elements of a tensor within 1e-5 of its largest value, each
 * by at most 0.07 lr. LoRA (lr 5e-3; at 1e-2 one run in 80 of a cell moved a loss by 1.2e-4): losses
 * within 8.6e-6, norms within 4.2e-5, and no tensor off by more than 7.9e-4 of its norm, although up to
 * 18% of a small LoRA matrix's elements, those where a gradient's terms cancel, drift beyond 1e-4 of its
 * largest value. So: losses within 2e-5, norms within 1e-4; full weights with at most 5% of a tensor's
 * elements beyond 1e-5 of its largest value, LoRA tensors within 1e-2 of their norm; every element within
 * 2 lr (an AdamW step taken the other way). A real bug moves far more: a missing reduction or a shard at
 * the wrong offset gives every element of a shard (a quarter to a half of each tensor) another update of
 * about lr, which after these steps is about 4e-2 of a LoRA A's norm (A starts near ±1/8) and more of a
 * B's (B starts at 0), and each step moves these losses by percents.
 */
class ApiDataParallelTest {
    private static final List<TrainingExample> STORIES = List.of(
            TrainingExample.of("Tell me about Tim.", "Tim had a big red kite. He flew it in the park every day."),
            TrainingExample.of("Tell me about Sue.", "Sue liked to bake cakes with her mom on Sunday."),
            new TrainingExample("Finish the sentence.", "The dog ran", "The dog ran to the tree and barked at the bird."),
            TrainingExample.of("What did the cat do?", "The cat slept in the sun all day long."),
            TrainingExample.of("Where is the ball?", "The ball is under the bed, next to the old shoe."),
            TrainingExample.of("Who is Lily?", "Lily is a little girl who loves to play in the garden."));
    private static final int STEPS = 4;

    @TempDir
    static Path shared;
    static Path modelDir;
    static Engine engine;

    @BeforeAll
    static void importModel() throws IOException {
        engine = Engine.open("cpu", 2);
        modelDir = shared.resolve("stories260K");
        engine.importGguf(SharedFiles.get("models/stories260K.gguf"), modelDir).close();
    }

    @AfterAll
    static void closeEngine() {
        if (engine != null) engine.close();
    }

    private static final String PROMPT = "Once upon a time";

    /** A run's losses, norms and final weights, and the greedy text of its model once the fine-tuning closed. */
    private record Run(double[] losses, double[] norms, Map<String, float[]> weights, String text) {}

    /**
     * {@code options}' steps on a fresh copy of the model; {@code saveTo} (null: none): where the fine-tuning
     * saves what it trained before it closes (under ZeRO 3 gathered from the devices' shards).
     */
    private static Run run(FineTuneOptions options, Path saveTo) throws IOException {
        try (Model m = engine.load(modelDir)) {
            List<Trainer.Step> steps;
            try (FineTuning ft = engine.fineTune(m, options)) {
                steps = ft.train(STORIES, STEPS);
                if (saveTo != null) ft.save(saveTo);
            }
            // closed: the model holds its whole weights again (under ZeRO 3 gathered back from the shards)
            Map<String, float[]> w = new LinkedHashMap<>();
            m.decoder().trainableParameters().forEach((k, t) -> w.put(k, m.decoder().backend().download(t)));
            String text = m.generate(PROMPT, SamplingParams.greedy(24)).text();
            return new Run(steps.stream().mapToDouble(Trainer.Step::loss).toArray(),
                    steps.stream().mapToDouble(Trainer.Step::gradNorm).toArray(), w, text);
        }
    }

    private static double lr(String mode) {
        return mode.equals("lora") ? 5e-3 : 1e-3;
    }

    private static FineTuneOptions options(String mode, long seed) {
        FineTuneOptions o = mode.equals("lora") ? FineTuneOptions.lora(4).loraDropout(0.1) : FineTuneOptions.full();
        // 4 examples a step in micro-batches of 1: every device of 2 or 4 has one or two
        return o.lr(lr(mode)).batch(4).microBatch(1).seed(seed);
    }

    @ParameterizedTest(name = "{0} on {1} devices, ZeRO {2}")
    @CsvSource({"full, 2, 0", "full, 2, 2", "full, 4, 1", "lora, 2, 1", "lora, 4, 2", "full, 2, 3", "lora, 4, 3"})
    void fineTuningOnSeveralDevicesGivesTheOneDeviceLossesAndWeights(String mode, int devices, int zero) throws IOException {
        long seed = TestSeeds.next();
        Run one = run(options(mode, seed), null);
        Path saved = shared.resolve(mode + "-" + devices + "-" + zero + "-" + seed);
        Run many = run(options(mode, seed).devices(devices).zero(zero), saved);
        String what = mode + " on " + devices + " devices, ZeRO " + zero + " (seed " + seed + ")";
        for (int s = 0; s < STEPS; s++) {
            assertEquals(one.losses[s], many.losses[s], 2e-5 * one.losses[s], what + ": loss of step " + (s + 1));
            assertEquals(one.norms[s], many.norms[s], 1e-4 * one.norms[s], what + ": gradient norm of step " + (s + 1));
        }
        assertTrue(one.losses[STEPS - 1] < one.losses[0], what + ": the steps learn " + java.util.Arrays.toString(one.losses));
        // the elements whose gradient terms cancel may drift (see the class comment for the measured figures)
        String disagree = mode.equals("lora") ? tensorsDisagree(one.weights, many.weights, 1e-2, 2 * lr(mode))
                : Numerics.adamWeightsDisagree(one.weights, many.weights, 1e-5, 5e-2, 2 * lr(mode));
        assertNull(disagree, what + ": " + disagree);
        // what the fine-tuning saved while the weights were on the devices is what its model holds after
        try (Model reloaded = mode.equals("lora") ? engine.load(modelDir, saved) : engine.load(saved)) {
            assertEquals(many.text, reloaded.generate(PROMPT, SamplingParams.greedy(24)).text(), what + ": the saved model's text");
        }
        // weights this close to one device's give its greedy text (a near tie of two tokens aside)
        assertEquals(one.text, many.text, what + ": the greedy text of the one-device model");
    }

    /** The first tensor of {@code got} off {@code want} by more than {@code rel} of its norm or an element by more than {@code maxDrift}, or null. */
    private static String tensorsDisagree(Map<String, float[]> want, Map<String, float[]> got, double rel, double maxDrift) {
        if (!want.keySet().equals(got.keySet())) return "the tensors differ: " + want.keySet() + " against " + got.keySet();
        for (var e : want.entrySet()) {
            float[] a = e.getValue(), b = got.get(e.getKey());
            double off = Numerics.relErr(b, a), drift = 0;
            for (int i = 0; i < a.length; i++) drift = Math.max(drift, Math.abs((double) a[i] - b[i]));
            if (!(off <= rel) || !(drift <= maxDrift)) {
                return String.format(java.util.Locale.ROOT, "%s is off by %.3g of its norm, an element by %.3g (allowed: %.1e"
                        + " of the norm, %.1e an element)", e.getKey(), off, drift, rel, maxDrift);
            }
        }
        return null;
    }

    @Test
    void aRunOnSeveralDevicesRepeatsExactly() throws IOException {
        // ranks whose GEMMs want different OpenBLAS thread counts run beside each other (see OpenBlas.sgemm)
        long seed = TestSeeds.next();
        FineTuneOptions o = options("lora", seed).devices(4).zero(2);
        Run first = run(o, null), second = run(o, null);
        String what = "lora on 4 devices, ZeRO 2, twice (seed " + seed + ")";
        assertArrayEquals(first.losses, second.losses, what + ": the losses");
        assertArrayEquals(first.norms, second.norms, what + ": the gradient norms");
        first.weights.forEach((name, w) -> assertArrayEquals(w, second.weights.get(name), what + ": " + name));
    }

    @Test
    void aZeroThreeFineTuneLeavesAModelThatTrainsOnOneDevice() throws IOException {
        long seed = TestSeeds.next();
        double[] afterOne = trainOnAfter(options("full", seed), seed), afterTwo = trainOnAfter(options("full", seed).devices(2).zero(3), seed);
        for (int s = 0; s < afterOne.length; s++) {
            // the one step's reordered sums grow through AdamW's next steps (seen: 1.5e-5); weights taken
            // back wrong (a shard missing or misplaced) move these losses by percents
            assertEquals(afterOne[s], afterTwo[s], 1e-4 * afterOne[s], "seed " + seed + ": loss of step " + (s + 1)
                    + " on one device after a step on 2 devices under ZeRO 3, against after one on 1");
        }
        assertTrue(afterOne[afterOne.length - 1] < afterOne[0], "the steps learn " + java.util.Arrays.toString(afterOne));
    }

    /** The losses of 3 steps of full fine-tuning on one device of a model that {@code first} trained for 1 step. */
    private static double[] trainOnAfter(FineTuneOptions first, long seed) throws IOException {
        try (Model m = engine.load(modelDir)) {
            try (FineTuning ft = engine.fineTune(m, first)) {
                ft.train(STORIES, 1);
            }
            try (FineTuning again = engine.fineTune(m, options("full", seed))) {
                return again.train(STORIES, 3).stream().mapToDouble(Trainer.Step::loss).toArray();
            }
        }
    }

    @Test
    void badDeviceCountsAndStagesAreOneSentence() throws IOException {
        try (Model m = engine.load(modelDir)) {
            IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                    () -> engine.fineTune(m, FineTuneOptions.full().devices(0)));
            assertEquals("the fine-tuning needs at least one device, got 0", none.getMessage());
            IllegalArgumentException five = assertThrows(IllegalArgumentException.class,
                    () -> engine.fineTune(m, FineTuneOptions.full().devices(2).zero(5)));
            assertEquals("--zero must be 0, 1, 2 or 3, got 5", five.getMessage());
        }
    }
}
