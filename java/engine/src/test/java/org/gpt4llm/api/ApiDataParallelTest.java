package org.gpt4llm.api;

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
 * <p>The tolerances come from 48 runs (every cell, 6 fresh seeds each; the same cells under ZeRO 0 on as
 * many devices alongside). The ranks' gradients are summed in another order than one device accumulates
 * them (~1e-7 relative), and AdamW, which divides each gradient by its own magnitude, carries that into
 * the next steps: the losses of steps 2 to 4 differed by up to 1.8e-6 relative (2.5e-6 seen once
 * elsewhere), the gradient norms by up to 3.8e-6, and ZeRO 1, 2 and 3 differ from ZeRO 0 on the same
 * devices by as much as all of them differ from one device, so sharding adds nothing beyond that order.
 * In the weights, all but a few elements stay within 1e-5 of their tensor's largest value (1e-4 for
 * LoRA, whose B starts at 0 so that A's first gradients are tiny): at most 0.1% of a full model's
 * tensor, 6 of a 256-element LoRA matrix (2.3%), those where a gradient's terms cancel, each by at most
 * 0.13 of lr. So: losses within 2e-5, norms within 1e-4, weights with at most 5% of a tensor's elements
 * beyond those bounds, each within 2 lr (an AdamW step taken the other way). A real bug moves far more:
 * a missing reduction or a shard at the wrong offset gives every element of a shard (a quarter to a
 * half of each tensor) another update of about lr, and each step moves these losses by percents.
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
        return mode.equals("lora") ? 1e-2 : 1e-3;
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
        String disagree = Numerics.adamWeightsDisagree(one.weights, many.weights, mode.equals("lora") ? 1e-4 : 1e-5, 5e-2,
                2 * lr(mode));
        assertNull(disagree, what + ": " + disagree);
        // what the fine-tuning saved while the weights were on the devices is what its model holds after
        try (Model reloaded = mode.equals("lora") ? engine.load(modelDir, saved) : engine.load(saved)) {
            assertEquals(many.text, reloaded.generate(PROMPT, SamplingParams.greedy(24)).text(), what + ": the saved model's text");
        }
        // weights this close to one device's give its greedy text (a near tie of two tokens aside)
        assertEquals(one.text, many.text, what + ": the greedy text of the one-device model");
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
