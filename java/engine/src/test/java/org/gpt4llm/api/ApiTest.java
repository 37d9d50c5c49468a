package org.gpt4llm.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.data.Template;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.Generator;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.train.Trainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The public API against a real pretrained model: stories260K imported from its GGUF, generation
 * compared with the engine's own generator, LoRA and full fine-tuning, save and reload, bad input.
 */
class ApiTest {
    private static final List<TrainingExample> STORIES = List.of(
            TrainingExample.of("Tell me about Tim.", "Tim had a big red kite. He flew it in the park every day."),
            TrainingExample.of("Tell me about Sue.", "Sue liked to bake cakes with her mom on Sunday."),
            new TrainingExample("Finish the sentence.", "The dog ran", "The dog ran to the tree and barked at the bird."),
            TrainingExample.of("What did the cat do?", "The cat slept in the sun all day long."));

    @TempDir
    static Path shared;
    static Path modelDir;
    static Engine engine;

    @TempDir
    Path tmp;

    @BeforeAll
    static void importModel() throws IOException {
        CpuKernels.widenHalfWeights(); // bf16 weights generate as their widening (an AVX512_BF16 CPU rounds activations)
        Path gguf = SharedFiles.get("models/stories260K.gguf");
        engine = Engine.open("cpu", 2);
        modelDir = shared.resolve("stories260K");
        try (Model m = engine.importGguf(gguf, modelDir)) {
            assertEquals("llama", m.architecture());
        }
    }

    @AfterAll
    static void closeEngine() {
        if (engine != null) engine.close();
        CpuKernels.forceSimdPath(null);
    }

    @Test
    void greedyGenerationIsTheEnginesOwnGenerator() throws IOException {
        String prompt = "Once upon a time";
        String expected;
        try (CpuBackend be = new CpuBackend(2); DecoderModel dm = DecoderModels.load(be, modelDir);
             HfTokenizer tok = Tokenizers.load(modelDir)) {
            int[] ids = tok.encode(prompt);
            int[] withBos = new int[ids.length + 1];
            withBos[0] = tok.bosId();
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            expected = new Generator(dm, tok, 1, 0).generate(List.of(new GenerationRequest(withBos, SamplingParams.greedy(40))),
                    TokenListener.NONE).getFirst().text();
        }
        try (Model m = engine.load(modelDir)) {
            Completion c = m.generate(prompt, SamplingParams.greedy(40));
            assertEquals(expected, c.text());
            assertTrue(c.text().length() > 20, "stories260K tells a story: " + c.text());
            assertEquals(m.encode(prompt).length, c.promptTokens());
            System.out.println("api greedy: " + prompt + c.text());
        }
    }

    /**
     * An engine keeping bf16 weights: the model takes half the weight memory, fine-tunes LoRA adapters
     * over them, and generates what the fp32 engine generates from the same weights (saved in bf16,
     * widened on load; only the order of fp32 sums could differ), and what the fp32 engine generates
     * when one load asks for bf16.
     */
    @Test
    void bf16WeightsGenerateAsTheirWideningAndTrainLora() throws IOException {
        Path saved = tmp.resolve("bf16");
        String prompt = "Once upon a time";
        String half;
        try (Engine bf16 = Engine.open("cpu", 2, org.gpt4llm.tensor.DType.BF16); Model m = bf16.load(modelDir)) {
            half = m.generate(prompt, SamplingParams.greedy(40)).text();
            m.save(saved);
            try (Model fp32 = engine.load(modelDir)) {
                long halfBytes = bf16.backend().memory().live().device(org.gpt4llm.memory.MemoryCategory.WEIGHTS);
                long fullBytes = engine.backend().memory().live().device(org.gpt4llm.memory.MemoryCategory.WEIGHTS);
                assertTrue(halfBytes < 0.55 * fullBytes, "bf16 weights take " + halfBytes + " bytes, fp32 " + fullBytes);
            }
            try (FineTuning ft = bf16.fineTune(m, FineTuneOptions.lora(4).lr(1e-2))) {
                List<Trainer.Step> steps = ft.train(STORIES, 3);
                assertEquals(3, steps.size());
                for (Trainer.Step s : steps) assertTrue(Double.isFinite(s.loss()), "loss " + s.loss());
            }
        }
        try (Model widened = engine.load(saved)) {
            assertEquals(half, widened.generate(prompt, SamplingParams.greedy(40)).text());
        }
        // the fp32 engine asked for bf16 on one load: the same model as the bf16 engine's
        try (Model perLoad = engine.load(modelDir, null, org.gpt4llm.tensor.DType.BF16)) {
            assertEquals(half, perLoad.generate(prompt, SamplingParams.greedy(40)).text());
        }
        assertTrue(half.length() > 20, "stories260K in bf16 tells a story: " + half);
    }

    @Test
    void batchesStreamAndStopStringsGiveWhatSinglePromptsGive() throws Exception {
        List<String> prompts = List.of("Once upon a time", "Tom had a red ball", "Lily went to the park");
        Path jfr = tmp.resolve("generate.jfr");
        try (Model m = engine.load(modelDir)) {
            List<String> single = new ArrayList<>();
            for (String p : prompts) single.add(m.generate(p, SamplingParams.greedy(30)).text());
            Map<Integer, StringBuilder> streamed = new TreeMap<>();
            List<Completion> batch;
            try (Recording rec = new Recording()) {
                rec.enable("org.gpt4llm.Generate");
                rec.start();
                batch = m.generate(prompts, SamplingParams.greedy(30),
                        (i, delta) -> {
                            streamed.computeIfAbsent(i, k -> new StringBuilder()).append(delta);
                            return true;
                        });
                rec.stop();
                rec.dump(jfr);
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertEquals(single.get(i), batch.get(i).text(), prompts.get(i));
                assertEquals(single.get(i), streamed.get(i).toString(), "the streamed deltas add up to the text");
            }
            // one JFR event for the batch, with its token counts
            List<RecordedEvent> events = RecordingFile.readAllEvents(jfr).stream()
                    .filter(e -> e.getEventType().getName().equals("org.gpt4llm.Generate")).toList();
            assertEquals(1, events.size());
            RecordedEvent e = events.getFirst();
            assertEquals(3, e.getInt("requests"));
            assertEquals(batch.stream().mapToLong(Completion::promptTokens).sum(), e.getLong("promptTokens"));
            assertEquals(batch.stream().mapToLong(c -> c.tokens().length).sum(), e.getLong("newTokens"));
            assertEquals(batch.stream().filter(c -> c.finishReason().equals("length")).count(), e.getInt("lengthFinished"));

            // a stop string cuts the text before it
            String full = single.getFirst();
            String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
            Completion cut = m.generate(prompts.getFirst(),
                    new SamplingParams(30, 0f, 0, 1f, 1f, List.of(stop), true, 0));
            assertEquals(full.substring(0, full.indexOf(stop)), cut.text());
            assertEquals("stop", cut.finishReason());

            // sampling is reproducible from the seed
            SamplingParams sampled = new SamplingParams(30, 0.9f, 40, 0.95f, 1.1f, List.of(), true, 123);
            assertEquals(m.generate(prompts.get(1), sampled).text(), m.generate(prompts.get(1), sampled).text());
        }
    }

    @Test
    void loraStepsLowerTheLossAndTheSavedAdapterReloadsToTheSameText() throws IOException {
        Path adapter = tmp.resolve("adapter");
        String prompt;
        String before, after;
        try (Model m = engine.load(modelDir)) {
            prompt = m.prompt(Template.ALPACA, STORIES.getFirst().instruction(), "");
            before = m.generate(prompt, SamplingParams.greedy(24)).text();
            try (FineTuning ft = engine.fineTune(m, FineTuneOptions.lora(8).loraAlpha(16).lr(1e-2).batch(4).seed(1))) {
                assertTrue(m.hasAdapter());
                double lossBefore = ft.loss(STORIES);
                List<Trainer.Step> steps = ft.train(STORIES, 12);
                double lossAfter = ft.loss(STORIES);
                assertEquals(12, steps.size());
                assertEquals(12, ft.steps());
                for (int i = 0; i < steps.size(); i++) {
                    assertEquals(i + 1, steps.get(i).step());
                    assertTrue(Double.isFinite(steps.get(i).loss()) && steps.get(i).tokens() > 0);
                }
                assertEquals(lossBefore, steps.getFirst().loss(), 1e-4, "the first step's loss is the loss before training"
                        + " (all examples in one step, dropout aside)");
                assertTrue(lossAfter < 0.8 * lossBefore, "LoRA lowers the loss on its examples: " + lossBefore + " -> " + lossAfter);
                System.out.printf("api lora: loss %.4f -> %.4f%n", lossBefore, lossAfter);
                ft.save(adapter);
            }
            after = m.generate(prompt, SamplingParams.greedy(24)).text();
            assertNotEquals(before, after, "what was learnt changes the answer");
        }
        assertTrue(Files.isRegularFile(adapter.resolve("adapter_config.json")));
        assertTrue(Files.isRegularFile(adapter.resolve("adapter_model.safetensors")));
        assertTrue(Files.isRegularFile(adapter.resolve("tokenizer.json")));
        try (Model reloaded = engine.load(modelDir, adapter)) {
            assertTrue(reloaded.hasAdapter());
            assertEquals(after, reloaded.generate(prompt, SamplingParams.greedy(24)).text());
        }
        try (Model base = engine.load(modelDir)) {
            assertEquals(before, base.generate(prompt, SamplingParams.greedy(24)).text(), "the base folder is untouched");
        }
    }

    @Test
    void fullFineTuningSavesAModelFolderThatReloadsToTheSameText() throws IOException {
        Path saved = tmp.resolve("full");
        String after;
        try (Model m = engine.load(modelDir)) {
            try (FineTuning ft = engine.fineTune(m, FineTuneOptions.full().lr(1e-3).schedule("cosine", 4, 0.25))) {
                List<Trainer.Step> steps = ft.train(STORIES, 4);
                assertEquals(0.0, steps.getFirst().lr(), "the first warmup step has lr 0, as in HF");
                assertTrue(steps.get(1).lr() > 0);
                Trainer.Step one = ft.step(STORIES.subList(0, 2));
                assertEquals(5, one.step());
            }
            m.save(saved);
            after = m.generate("Once upon a time", SamplingParams.greedy(24)).text();
        }
        try (Model reloaded = engine.load(saved)) {
            assertEquals(after, reloaded.generate("Once upon a time", SamplingParams.greedy(24)).text());
        }
    }

    @Test
    void trainingFromAnAlpacaFileReadsItsRecords() throws IOException {
        Path data = tmp.resolve("data.json");
        Files.writeString(data, """
                [{"instruction": "Tell me about Tim.", "input": "", "output": "Tim had a big red kite."},
                 {"instruction": "Tell me about Sue.", "output": "Sue liked to bake cakes."}]
                """);
        try (Model m = engine.load(modelDir); FineTuning ft = engine.fineTune(m, FineTuneOptions.lora(4).lr(1e-2))) {
            List<Trainer.Step> steps = ft.train(data, 3);
            assertEquals(3, steps.size());
            assertTrue(steps.getLast().loss() < steps.getFirst().loss(), steps.toString());
        }
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "[{\"instruction\": \"no output here\"}]");
        try (Model m = engine.load(modelDir); FineTuning ft = engine.fineTune(m, FineTuneOptions.lora(4))) {
            Exception e = assertThrows(RuntimeException.class, () -> ft.train(bad, 1));
            assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        }
    }

    @Test
    void aRewardModelScoresResponsesAsTheEngineDoes() throws IOException {
        Path rmDir = tmp.resolve("rm");
        List<String> responses = List.of("Tim had a big red kite.", "The cat slept in the sun.", "Once upon a time there was a dog.");
        float[] direct;
        try (CpuBackend be = new CpuBackend(2); HfTokenizer tok = Tokenizers.load(modelDir)) {
            // a reward model folder: the backbone of stories260K and a fresh value head, saved as rm saves one
            try (org.gpt4llm.model.RewardModel rm = org.gpt4llm.model.RewardModel.load(be, modelDir, 7, tok.padId())) {
                rm.save(rmDir);
            }
            org.gpt4llm.train.TokenizerFiles.copy(modelDir, rmDir);
            try (org.gpt4llm.model.RewardModel rm = org.gpt4llm.model.RewardModel.loadTrained(be, rmDir, tok.padId())) {
                float[] none = new float[responses.size()];
                java.util.Arrays.fill(none, Float.NaN);
                var group = new org.gpt4llm.data.RewardEncoder(tok, Template.ALPACA, 512).encode(new org.gpt4llm.data.ScoredGroup(
                        new org.gpt4llm.data.RecordRef(rmDir, 0, 0), "", List.of(), "Tell me a story.", "", responses, none,
                        List.of("", "", "")));
                direct = new org.gpt4llm.data.RewardDataset(List.of(group), tok.padId()).rewards(rm, 1).getFirst();
            }
        }
        try (RewardScorer scorer = engine.loadRewardModel(rmDir, Template.ALPACA, 512)) {
            float[] got = scorer.score("Tell me a story.", "", responses);
            assertEquals(responses.size(), got.length);
            for (int i = 0; i < got.length; i++) assertEquals(direct[i], got[i], 1e-6f, "response " + i);
            assertNotEquals(got[0], got[1], "different responses get different rewards");
            assertEquals(got[1], scorer.score("Tell me a story.", responses.get(1)), 1e-4f);
            List<float[]> many = scorer.score(List.of(new RewardScorer.Prompt("Tell me a story.", "", responses),
                    new RewardScorer.Prompt("Finish the sentence.", "The dog ran", List.of("to the tree."))));
            for (int i = 0; i < got.length; i++) assertEquals(got[i], many.getFirst()[i], 1e-4f, "batched with another prompt");
            assertEquals(1, many.get(1).length);
        }
        IOException e = assertThrows(IOException.class, () -> engine.loadRewardModel(tmp.resolve("none"), Template.ALPACA, 512));
        assertTrue(e.getMessage().startsWith("no reward model folder at " + tmp.resolve("none")), e.getMessage());
        Exception notRm = assertThrows(Exception.class, () -> engine.loadRewardModel(modelDir, Template.ALPACA, 512));
        assertTrue(notRm.getMessage().contains(modelDir.toString()), notRm.getMessage());
    }

    @Test
    void badInputIsOneSentenceNamingIt() {
        Path nowhere = tmp.resolve("no-such-model");
        IOException e = assertThrows(IOException.class, () -> engine.load(nowhere));
        assertEquals("no model folder at " + nowhere + " (expected config.json, safetensors weights and tokenizer.json)",
                e.getMessage());
        IOException g = assertThrows(IOException.class, () -> engine.importGguf(tmp.resolve("x.gguf"), tmp.resolve("out")));
        assertEquals("no GGUF file at " + tmp.resolve("x.gguf"), g.getMessage());
        IOException a = assertThrows(IOException.class, () -> engine.load(modelDir, nowhere));
        assertTrue(a.getMessage().startsWith("no LoRA adapter at " + nowhere), a.getMessage());
        IllegalArgumentException b = assertThrows(IllegalArgumentException.class, () -> Engine.open("tpu", 1));
        assertEquals("backend tpu is not cpu, cuda or cuda-emu", b.getMessage());
        IllegalArgumentException lr = assertThrows(IllegalArgumentException.class, () -> {
            try (Model m = engine.load(modelDir)) {
                engine.fineTune(m, FineTuneOptions.lora(4).lr(-1));
            }
        });
        assertEquals("the learning rate must be positive, got -1.0", lr.getMessage());
        for (Exception x : List.of(e, g, a, b, lr)) assertFalse(x.getMessage().contains("\n"), x.getMessage());
    }

    @Test
    void cudaWithoutAGpuSaysWhatIsMissing() {
        Engine gpu;
        try {
            gpu = Engine.open("cuda", 1);
        } catch (IllegalStateException e) {
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertTrue(e.getMessage().contains("cuda") || e.getMessage().contains("NVIDIA") || e.getMessage().contains("GPU"),
                    e.getMessage());
            return;
        }
        gpu.close(); // a machine with a GPU: nothing to check here
    }

    @Test
    void closingTheEngineClosesWhatItMade() throws IOException {
        Engine e = Engine.open("cpu", 1);
        Model m = e.load(modelDir);
        FineTuning ft = e.fineTune(m, FineTuneOptions.lora(2));
        e.close();
        assertThrows(IllegalStateException.class, () -> ft.step(STORIES));
        assertThrows(IllegalStateException.class, () -> m.generate("x", SamplingParams.greedy(2)));
        assertThrows(IllegalStateException.class, () -> e.load(modelDir));
    }
}
