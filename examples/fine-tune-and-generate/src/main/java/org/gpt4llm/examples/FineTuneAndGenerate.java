package org.gpt4llm.examples;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.gpt4llm.api.Engine;
import org.gpt4llm.api.FineTuneOptions;
import org.gpt4llm.api.FineTuning;
import org.gpt4llm.api.Model;
import org.gpt4llm.api.TrainingExample;
import org.gpt4llm.data.Template;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.train.Trainer;

/**
 * Loads a model, generates, fine-tunes it with LoRA for a few steps on a handful of examples,
 * prints the loss of every step, generates again and saves the adapter. Uses only the public API
 * (org.gpt4llm.api plus the engine types it names).
 *
 * <pre>
 * FineTuneAndGenerate [--model GGUF_FILE_OR_HF_FOLDER] [--steps N] [--lr LR] [--rank R]
 *     [--backend cpu|cuda|cuda-emu] [--threads N] [--out DIR]
 * </pre>
 * A GGUF file is imported into {@code --out}/model first; an HF folder loads as it is. Default model:
 * {@code ../shared/models/stories260K.gguf} from the working directory (the checkout's root). The
 * adapter is written to {@code --out}/adapter (default: a new temporary folder).
 */
public class FineTuneAndGenerate {
    // A few stories in the voice of the model, each answering an instruction.
    static final List<TrainingExample> EXAMPLES = List.of(
            TrainingExample.of("Tell me a story about Tim.", "Tim had a big red kite. He flew it in the park every day."),
            TrainingExample.of("Tell me a story about Sue.", "Sue liked to bake cakes with her mom. They made a cake for dad."),
            TrainingExample.of("Tell me a story about a cat.", "The cat slept in the sun all day. Then it ate a fish."),
            new TrainingExample("Finish the story.", "The dog ran", "The dog ran to the tree and barked at the bird."));

    private static final String USAGE = "usage: FineTuneAndGenerate [--model GGUF_FILE_OR_HF_FOLDER] [--steps N] [--lr LR]"
            + " [--rank R] [--backend cpu|cuda|cuda-emu] [--threads N] [--out DIR]";

    public static void main(String[] args) throws Exception {
        Path source = Path.of("../shared/models/stories260K.gguf");
        Path out = null;
        int steps = 10, rank = 8, threads = 0;
        double lr = 1e-2;
        String backend = "cpu";
        try {
            for (int i = 0; i < args.length; i += 2) {
                String flag = args[i];
                if (i + 1 >= args.length) throw new IllegalArgumentException(flag + " needs a value");
                String v = args[i + 1];
                switch (flag) {
                    case "--model" -> source = Path.of(v);
                    case "--steps" -> steps = (int) number(flag, v, true);
                    case "--lr" -> lr = number(flag, v, false);
                    case "--rank" -> rank = (int) number(flag, v, true);
                    case "--backend" -> backend = v;
                    case "--threads" -> threads = (int) number(flag, v, true);
                    case "--out" -> out = Path.of(v);
                    default -> throw new IllegalArgumentException("unknown argument " + flag);
                }
            }
        } catch (IllegalArgumentException e) {
            exitWithUsage(e.getMessage());
        }
        if (!Files.exists(source)) {
            exitWithUsage("no model at " + source.toAbsolutePath().normalize() + " (give --model GGUF_FILE_OR_HF_FOLDER)");
        }
        if (out == null) out = Files.createTempDirectory("gpt4llm-example");

        try (Engine engine = Engine.open(backend, threads)) {
            // a GGUF file is imported into an HF folder first; an HF folder loads as it is
            Model model = source.toString().endsWith(".gguf")
                    ? engine.importGguf(source, out.resolve("model"))
                    : engine.load(source);
            // the engine would close the model with itself; closing it here frees it as soon as it is done
            try (model) {
                run(engine, model, source, steps, rank, lr, out);
            }
        }
    }

    private static double number(String flag, String value, boolean whole) {
        try {
            return whole ? Integer.parseInt(value) : Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " wants " + (whole ? "a whole number" : "a number") + ", got " + value);
        }
    }

    private static void exitWithUsage(String problem) {
        System.err.println(problem);
        System.err.println(USAGE);
        System.exit(2);
    }

    /** Generates, fine-tunes with the loss of each step, generates again and saves the adapter. */
    static void run(Engine engine, Model model, Path source, int steps, int rank, double lr, Path out) throws Exception {
        System.out.printf(Locale.ROOT, "model: %s (%s, %,d parameters) on %s%n", source, model.architecture(),
                model.parameterCount(), engine.backendName());

        List<String> prompts = new ArrayList<>();
        for (TrainingExample e : EXAMPLES) prompts.add(model.prompt(Template.ALPACA, e.instruction(), e.input()));
        SamplingParams greedy = SamplingParams.greedy(32);
        String before = model.generate(prompts.getFirst(), greedy).text();
        System.out.println("before: " + before.strip());

        FineTuneOptions options = FineTuneOptions.lora(rank).lr(lr).batch(EXAMPLES.size()).template(Template.ALPACA);
        try (FineTuning ft = engine.fineTune(model, options)) {
            double start = ft.loss(EXAMPLES);
            System.out.printf(Locale.ROOT, "loss before training: %.4f%n", start);
            for (int s = 0; s < steps; s++) {
                Trainer.Step step = ft.train(EXAMPLES, 1).getFirst();
                System.out.printf(Locale.ROOT, "step %d loss %.4f grad_norm %.3f tokens %d (%.0f ms)%n", step.step(),
                        step.loss(), step.gradNorm(), step.tokens(), step.seconds() * 1000);
            }
            double end = ft.loss(EXAMPLES);
            System.out.printf(Locale.ROOT, "loss after training: %.4f%n", end);
            ft.save(out.resolve("adapter"));
        }

        String after = model.generate(prompts.getFirst(), greedy).text();
        System.out.println("after: " + after.strip());
        System.out.println("expected: " + EXAMPLES.getFirst().output());
        System.out.println("adapter: " + out.resolve("adapter"));
    }
}
