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
 * examples/run FineTuneAndGenerate.java [--model GGUF_FILE_OR_HF_FOLDER] [--steps N] [--lr LR]
 *     [--rank R] [--backend cpu|cuda|cuda-emu] [--threads N] [--out DIR]
 * </pre>
 * Default model: ../shared/models/stories260K.gguf next to the project (imported into a temporary
 * folder). The adapter is written to {@code --out}/adapter (default: a temporary folder).
 */
public class FineTuneAndGenerate {
    // A few stories in the voice of the model, each answering an instruction.
    static final List<TrainingExample> EXAMPLES = List.of(
            TrainingExample.of("Tell me a story about Tim.", "Tim had a big red kite. He flew it in the park every day."),
            TrainingExample.of("Tell me a story about Sue.", "Sue liked to bake cakes with her mom. They made a cake for dad."),
            TrainingExample.of("Tell me a story about a cat.", "The cat slept in the sun all day. Then it ate a fish."),
            new TrainingExample("Finish the story.", "The dog ran", "The dog ran to the tree and barked at the bird."));

    public static void main(String[] args) throws Exception {
        Path root = Path.of(System.getProperty("gpt4llm.root", "."));
        Path source = root.resolve("../shared/models/stories260K.gguf").normalize();
        Path out = null;
        int steps = 10, rank = 8, threads = 0;
        double lr = 1e-2;
        String backend = "cpu";
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--model" -> source = Path.of(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--lr" -> lr = Double.parseDouble(v);
                case "--rank" -> rank = Integer.parseInt(v);
                case "--backend" -> backend = v;
                case "--threads" -> threads = Integer.parseInt(v);
                case "--out" -> out = Path.of(v);
                default -> {
                    System.err.println("unknown argument " + args[i]
                            + " (known: --model --steps --lr --rank --backend --threads --out)");
                    System.exit(2);
                }
            }
            i++;
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
