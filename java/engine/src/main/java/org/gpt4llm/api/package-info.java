/**
 * The engine as a library: open an {@link org.gpt4llm.api.Engine} on a backend, load or import a
 * {@link org.gpt4llm.api.Model}, generate text from it, fine-tune it with a
 * {@link org.gpt4llm.api.FineTuning} (full or LoRA), save the result, and score responses with a
 * trained reward model ({@link org.gpt4llm.api.RewardScorer}).
 *
 * <pre>{@code
 * try (Engine engine = Engine.open("cpu", 2);
 *      Model model = engine.importGguf(Path.of("stories260K.gguf"), Path.of("stories260K"))) {
 *     System.out.println(model.generate("Once upon a time", SamplingParams.greedy(32)).text());
 *     try (FineTuning ft = engine.fineTune(model, FineTuneOptions.lora(8).lr(1e-2))) {
 *         for (Trainer.Step s : ft.train(List.of(new TrainingExample("Say hi.", "", "Hi!")), 5)) {
 *             System.out.println(s.step() + " " + s.loss());
 *         }
 *         ft.save(Path.of("adapter"));
 *     }
 * }
 * }</pre>
 *
 * <p>Ownership: the engine owns the backend; models and fine-tunings belong to the engine that made
 * them and are closed with it if still open (each may also be closed on its own, earlier). Nothing here is thread-safe: one thread uses an engine
 * and everything it made at a time. Errors on bad input are one sentence naming the file or value.
 *
 * <p>Types of the engine's own packages appear where they already say what is needed:
 * {@link org.gpt4llm.generate.SamplingParams} (how to decode), {@link org.gpt4llm.generate.Completion}
 * (what came out), {@link org.gpt4llm.generate.TokenListener} (streaming), {@link org.gpt4llm.data.Template}
 * (prompt templates) and {@link org.gpt4llm.train.Trainer.Step} (what one optimizer step did).
 */
package org.gpt4llm.api;
